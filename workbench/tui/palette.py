"""The workbench's own entries in the command palette (ctrl+p): each runs the action its key
runs, on the selection, and says the key."""

from __future__ import annotations

PALETTE = (
    (
        "Traffic: edit the split and mirror",
        "the selected endpoint's live split and mirror share (t)",
        "traffic",
    ),
    (
        "Faults: inject into the selected deployment",
        "latency, errors, drops, kill, CPU or memory (f)",
        "faults",
    ),
    ("Restart", "the selected instance; on a deployment, each in turn (r)", "restart"),
    ("Reload code", "the selected deployment's code, in place (R)", "reload"),
    ("Debug", "the selected instance under debugpy, or off again (d)", "debug"),
    ("Describe", "everything known of the selection, with its last events (v)", "describe"),
    ("Scale up", "one more instance of the selected deployment (+)", "scale(1)"),
    ("Scale down", "one fewer instance of the selected deployment (-)", "scale(-1)"),
    ("Copy the scoring URI", "of the selected endpoint (c)", "copy_uri"),
    ("Copy the key or token", "of the selected endpoint, never shown (y)", "copy_key"),
    ("Invoke", "send a request to the selected endpoint (i)", "show_tab('invoke')"),
    ("Search logs", "find in the log shown (/)", "search_logs"),
    ("Detach", "leave the engine running (D)", "detach"),
)
"""The command palette's entries: title, help, the action it runs."""
