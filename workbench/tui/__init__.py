"""`workbench up`'s terminal dashboard: a Textual app and a pure client of the control API."""
