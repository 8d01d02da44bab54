"""The TUI's screens: the main screen (the stream and the detail) and the modal and full screens it opens."""
