"""The reconcile step as a pure function, with plain objects."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.conftest import QUICKSTART
from workbench.engine.reconcile import Create, Delete, Desired, Observed, Replace, Scale, fingerprint, plan
from workbench.spec import load_project

BLUE = ("ep", "blue")
GREEN = ("ep", "green")


def test_new_deployment_is_created_and_removed_one_deleted() -> None:
    actions = plan({GREEN: Desired("f", 1)}, {BLUE: Observed("f", 1)})
    assert actions == [Delete(BLUE), Create(GREEN)]


def test_instance_count_change_scales_only() -> None:
    assert plan({BLUE: Desired("f", 3)}, {BLUE: Observed("f", 1)}) == [Scale(BLUE, 3)]


def test_runtime_change_replaces() -> None:
    assert plan({BLUE: Desired("g", 2)}, {BLUE: Observed("f", 1)}) == [Replace(BLUE, 2)]


def test_nothing_changed_means_nothing_to_do() -> None:
    assert plan({BLUE: Desired("f", 1)}, {BLUE: Observed("f", 1)}) == []


def test_fingerprint_ignores_instance_count_and_follows_what_shapes_an_instance() -> None:
    blue = load_project(QUICKSTART).endpoints[0].deployments[0]
    same = fingerprint(blue, "process")
    assert fingerprint(dataclasses.replace(blue, instance_count=5), "process") == same
    assert fingerprint(dataclasses.replace(blue, description="x"), "process") == same
    assert fingerprint(dataclasses.replace(blue, environment_variables={"A": "1"}), "process") != same
    assert fingerprint(blue, "docker") != same
    settings = dataclasses.replace(blue.request_settings, max_concurrent_requests_per_instance=4)
    assert fingerprint(dataclasses.replace(blue, request_settings=settings), "process") != same


def test_blue_and_green_of_the_quickstart_differ_by_model_only() -> None:
    blue, green = load_project(QUICKSTART).endpoints[0].deployments
    assert blue.environment == green.environment
    assert fingerprint(blue, "process") != fingerprint(green, "process")
    assert Path(str(blue.model.path if blue.model else "")).name == "model"
