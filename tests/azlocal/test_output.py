"""What azlocal prints, as az (knack) prints it: -o json|tsv|table|yaml|none and --query."""

from __future__ import annotations

import json

import pytest
import yaml

from workbench.azlocal.output import render
from workbench.errors import WorkbenchError

ENDPOINT = {
    "name": "endpt-1",
    "traffic": {"green": 10, "blue": 90},
    "properties": {"azureml.onlineendpointid": "/subscriptions/0/onlineendpoints/endpt-1"},
    "description": None,
    "tags": {},
    "mirror_traffic": {},
    "public": True,
}


def test_json_is_indented_by_two_with_sorted_keys() -> None:
    text = render(ENDPOINT, "json", None)
    assert json.loads(text) == ENDPOINT
    assert text.startswith('{\n  "description": null,\n  "mirror_traffic": {},\n')


def test_tsv_gives_a_dicts_values_in_key_order_and_a_scalar_bare() -> None:
    assert render(ENDPOINT, "tsv", "traffic") == "90\t10\n"
    assert render(ENDPOINT, "tsv", "name") == "endpt-1\n"
    assert render(ENDPOINT, "tsv", "description") == "\n", "null prints as nothing"
    assert render([{"a": 1}, {"a": 2}], "tsv", "[].a") == "1\n2\n"
    row = render({"b": [1, 2], "a": {"x": 1}, "c": True}, "tsv", None)
    assert row == "\t2\tTrue\n", "a dict prints empty, a list its length, as knack does"


def test_query_reaches_keys_with_dots_as_azures_scripts_quote_them() -> None:
    query = 'properties."azureml.onlineendpointid"'
    assert render(ENDPOINT, "tsv", query) == "/subscriptions/0/onlineendpoints/endpt-1\n"


def test_a_string_result_is_a_json_string_in_json_and_bare_in_tsv() -> None:
    answer = '{"model": "model-1"}'
    assert render(answer, "json", None) == json.dumps(answer) + "\n"
    assert render(answer, "tsv", None) == answer + "\n"


def test_table_shows_plain_values_under_capitalised_headers() -> None:
    text = render([ENDPOINT, {**ENDPOINT, "name": "endpt-22"}], "table", None)
    header, rule, first, second = text.splitlines()
    assert header.split() == ["Name", "Description", "Public"]
    assert set(rule) == {"-", " "}
    assert first.split() == ["endpt-1", "True"]
    assert second.startswith("endpt-22")


def test_yaml_and_none() -> None:
    assert yaml.safe_load(render(ENDPOINT, "yaml", None)) == ENDPOINT
    assert render(ENDPOINT, "none", None) == ""


def test_a_bad_query_is_an_error_saying_so() -> None:
    with pytest.raises(WorkbenchError, match="--query"):
        render(ENDPOINT, "json", "traffic[")
