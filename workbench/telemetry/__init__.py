"""Host, process and GPU figures for the dashboard. "No GPU" is a normal answer, not an error."""
