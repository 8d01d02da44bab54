"""The Textual terminal UI (imported lazily by the CLI: ``segdbg --help`` never loads Textual)."""
