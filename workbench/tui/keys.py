"""The dashboard's own keys, each with the id by which dashboard.yaml may give it another key
(settings.py); the widgets' keys are in their own BINDINGS."""

from __future__ import annotations

from textual.binding import Binding

TABS = ("logs", "metrics", "invoke", "mirror", "events")

APP_KEYS: list[Binding] = [
    Binding("question_mark", "help", "help", id="help"),
    Binding("slash", "search_logs", "search logs", show=False, id="search_logs"),
    Binding("p", "pause_logs", "pause / follow logs", show=False, id="pause_logs"),
    Binding("n", "next_match(1)", "next search match", show=False, id="next_match"),
    Binding("N", "next_match(-1)", "previous search match", show=False, id="previous_match"),
    Binding("ampersand", "filter_logs", "only the lines that match the search", show=False, id="filter_logs"),
    Binding("z", "zoom", "zoom: the tab alone, full screen", show=False, id="zoom"),
    Binding("J", "raw_logs", "router log: columns / raw JSON lines", show=False, id="raw_logs"),
    Binding("D", "detach", "detach (engine keeps running)", show=False, id="detach"),
    Binding("t", "traffic", "traffic", id="traffic"),
    Binding("v", "describe", "describe the selection (state and last events)", show=False, id="describe"),
    Binding("f", "faults", "faults: latency, errors, kill, CPU or memory pressure", show=False, id="faults"),
    Binding(
        "r",
        "restart",
        "restart",
        tooltip="restart the selected instance (a deployment: each in turn)",
        id="restart",
    ),
    Binding("R", "reload", "reload", tooltip="reload the selected deployment's code in place", id="reload"),
    Binding(
        "d",
        "debug",
        "debug",
        tooltip="restart the selected instance under the debugger (again: off)",
        id="debug",
    ),
    Binding("plus", "scale(1)", "add instance", show=False, id="add_instance"),
    Binding("minus", "scale(-1)", "remove instance", show=False, id="remove_instance"),
    Binding("c", "copy_uri", "copy scoring URI", show=False, id="copy_uri"),
    Binding("s", "shell", "shell", tooltip="a shell inside the selected instance", id="shell"),
    Binding("colon", "command", "command", tooltip="a command: :logs blue, :traffic, :help", id="command"),
    Binding("e", "edit", "the failing line in $EDITOR", show=False, id="edit"),
    Binding("y", "copy_key", "copy key or token (yank)", show=False, id="copy_key"),
    Binding("i", "show_tab('invoke')", "invoke", id="invoke"),
    Binding(
        "right_square_bracket",
        "log_container(1)",
        "next log (container)",
        show=False,
        id="next_container",
    ),
    Binding(
        "left_square_bracket",
        "log_container(-1)",
        "previous log (container)",
        show=False,
        id="previous_container",
    ),
    Binding("ctrl+s", "send", "send the invoke request", priority=True, show=False, id="send"),
    Binding("L", "request_log", "the invoke answer in the router log", show=False, id="request_log"),
    *(
        Binding(str(n), f"show_tab('{tab}')", f"{tab} tab", show=False, id=f"{tab}_tab")
        for n, tab in enumerate(TABS, 1)
    ),
]
