"""One module per segdbg command; each exposes `command`."""
