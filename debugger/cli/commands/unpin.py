"""`segdbg unpin ID...`: defined with `pin`, registered under its own name."""

from __future__ import annotations

from debugger.cli.commands.pin import unpin_command as command

__all__ = ["command"]
