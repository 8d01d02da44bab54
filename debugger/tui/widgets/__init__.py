"""The TUI's widgets: the stream, the detail tabs, the search box, the status bars; each looks right anywhere."""
