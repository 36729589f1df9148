"""The same spec elsewhere: `workbench promote REMOTE` and every command against a remote engine."""
