"""Inner-loop helpers: file watching (debounced) and debugger helpers."""
