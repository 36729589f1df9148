"""Failures of user code read from what the inference servers log: the tracebacks below are
Python's own output for the user's code, as the workbench server and azmlinfsrv log it."""

from __future__ import annotations

import json

from workbench.contract import Failure
from workbench.engine.failures import from_traceback
from workbench.state import Event, EventKind, EventSeverity

CODE = "/home/me/project/code"

INIT_FAILED = f"""\
2026-11-30 10:46:48,923 E [2198] azmlinfsrv - User's init function failed
Traceback (most recent call last):
  File "/opt/workbench/server/script.py", line 88, in run_init
    self.module.init()
  File "{CODE}/score.py", line 4, in init
    helper.load()
  File "{CODE}/helper.py", line 2, in load
    raise KeyError("weights")
KeyError: 'weights'
2026-11-30 10:46:48,925 I [2198] azmlinfsrv - exiting with code 3""".splitlines()

SYNTAX_ERROR = f"""\
Traceback (most recent call last):
  File "/usr/lib/python3.11/importlib/__init__.py", line 126, in import_module
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "{CODE}/score.py", line 7
    def run(raw_data)
                     ^
SyntaxError: expected ':'""".splitlines()

SITE = "/venv/lib/python3.11/site-packages"
WRAPPED_BY_AZMLINFSRV = f"""\
Traceback (most recent call last):
  File "{CODE}/score.py", line 12, in init
    model = joblib.load(path)
  File "{SITE}/joblib/numpy_pickle.py", line 650, in load
    with open(filename, 'rb') as f:
FileNotFoundError: [Errno 2] No such file or directory: 'model/sklearn_regression_model.pkl'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "{SITE}/azureml_inference_server_http/server/user_script.py", line 77, in invoke_init
    self._user_init()
azureml_inference_server_http.server.user_script.UserScriptException: Caught an unhandled exception \
from the user script""".splitlines()


def test_the_deepest_frame_in_the_users_code_and_the_exception() -> None:
    assert from_traceback(INIT_FAILED, CODE) == Failure(f"{CODE}/helper.py", 2, "KeyError", "'weights'")


def test_a_syntax_error_names_the_line_of_the_file_that_does_not_compile() -> None:
    assert from_traceback(SYNTAX_ERROR, CODE) == Failure(f"{CODE}/score.py", 7, "SyntaxError", "expected ':'")


def test_a_chained_exception_points_at_the_users_cause_not_the_servers_wrapper() -> None:
    failure = from_traceback(WRAPPED_BY_AZMLINFSRV, CODE)
    assert failure is not None
    assert (failure.file, failure.line, failure.error) == (f"{CODE}/score.py", 12, "FileNotFoundError")
    assert failure.message.endswith("'model/sklearn_regression_model.pkl'")


def test_without_a_user_frame_the_last_traceback_and_without_one_none() -> None:
    failure = from_traceback(WRAPPED_BY_AZMLINFSRV[-4:], CODE)
    assert failure is not None
    assert (failure.error, failure.line) == ("UserScriptException", 77)
    assert from_traceback(["exiting with code 3", "Killed"], CODE) is None
    assert from_traceback(INIT_FAILED, None) == Failure(f"{CODE}/helper.py", 2, "KeyError", "'weights'")


def test_failures_and_events_travel_as_json_unchanged() -> None:
    failure = Failure(f"{CODE}/score.py", 7, "SyntaxError", "expected ':'")
    assert Failure.from_json(failure.to_json()) == failure
    assert failure.summary() == f"{CODE}/score.py:7: SyntaxError: expected ':'"
    event = Event(EventKind.RELOAD_FAILED, "tests/blue", "reload failed", 1.0, EventSeverity.ERROR, failure)
    assert Event.from_json(json.loads(json.dumps(event.to_json()))) == event


def test_events_read_as_their_words_and_a_kind_from_a_newer_engine_reads_other() -> None:
    event = Event(EventKind.RELOAD_FAILED, "tests/blue", "reload failed", 1.0, EventSeverity.ERROR)
    assert f"{event.kind} {event.severity}" == "reload-failed error"
    said = event.to_json()
    assert (said["kind"], said["severity"]) == ("reload-failed", "error")
    assert Event.from_json(said) == event
    newer = Event.from_json({**said, "kind": "rollout-step", "severity": "critical"})
    assert (newer.kind, newer.severity) == (EventKind.OTHER, EventSeverity.INFO)
