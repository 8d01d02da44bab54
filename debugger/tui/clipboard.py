"""Copy that arrives: the platform clipboard command, else a file, and a message that says which.

OSC 52 (Textual's ``copy_to_clipboard``) is dropped silently by tmux's default settings and by
VTE terminals, so "Copied" could be a lie. The TUI therefore also runs the platform's clipboard
command when there is one (:func:`clipboard_commands`, chosen from ``PATH`` and the session's
environment), and when none exists or none works it writes the text to a file of its own and
names it (docs/tui.md). The choosing and the wording are pure functions; :func:`run_clipboard`
and :func:`write_fallback` do the I/O, off the UI thread.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["information", "warning", "error"]

#: Each clipboard command with its arguments, and the environment variable it needs (None: none).
CLIPBOARDS: tuple[tuple[tuple[str, ...], str | None], ...] = (
    (("wl-copy",), "WAYLAND_DISPLAY"),
    (("xclip", "-selection", "clipboard"), "DISPLAY"),
    (("xsel", "--clipboard", "--input"), "DISPLAY"),
    (("pbcopy",), None),
    (("clip.exe",), None),
)
#: Seconds a clipboard command may take (wl-copy and xclip fork and return at once).
TIMEOUT = 3.0
#: File extensions of the copy formats.
EXTENSIONS = {"json": "json", "curl": "sh", "pretty": "txt"}


def clipboard_commands(which: Callable[[str], str | None], environ: Mapping[str, str]) -> list[tuple[str, ...]]:
    """The clipboard commands to try, in order: those on ``PATH`` whose display the session has
    (``wl-copy`` needs ``WAYLAND_DISPLAY``, ``xclip``/``xsel`` need ``DISPLAY``)."""
    found = []
    for argv, needs in CLIPBOARDS:
        if needs is not None and not environ.get(needs):
            continue
        path = which(argv[0])
        if path:
            found.append((path, *argv[1:]))
    return found


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What a copy did: the command that took the text, whether OSC 52 was sent, the file written."""

    command: str | None = None
    osc52: bool = False
    path: str | None = None
    error: str | None = None  # why no command took it (none found, or the last one's failure)


def report(label: str, chars: int, result: CopyResult) -> tuple[str, Severity]:
    """The notification for a copy and its severity (``information`` or ``warning``), e.g.
    ``Copied the event as JSON (120 characters) with wl-copy.`` or
    ``Sent to the terminal (OSC 52) and wrote /tmp/segdbg-event-12-….json``."""
    what = f"{label} ({chars:,} characters)"
    if result.command is not None:
        return f"Copied {what} with {result.command}.", "information"
    why = f" ({result.error})" if result.error else ""
    if result.path is not None:
        sent = "Sent to the terminal (OSC 52) and wrote" if result.osc52 else "No clipboard command worked; wrote"
        return f"{sent} {what} to {result.path}{why}.", "warning"
    if result.osc52:
        return f"Sent {what} to the terminal (OSC 52), which may drop it; no file could be written{why}.", "warning"
    return f"Could not copy {what}{why}.", "error"


def run_clipboard(
    text: str, commands: Sequence[tuple[str, ...]], *, timeout: float = TIMEOUT
) -> tuple[str | None, str]:
    """Give ``text`` to the first command that takes it (on stdin, exit 0); returns its name, or
    ``None`` and why none did."""
    why = "no clipboard command found: wl-copy, xclip, xsel, pbcopy or clip.exe"
    for argv in commands:
        name = Path(argv[0]).name
        try:
            done = subprocess.run(
                argv,
                input=text.encode(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = f"{name} failed: {exc.__class__.__name__}"
            continue
        if done.returncode == 0:
            return name, ""
        message = done.stderr.decode(errors="replace").strip().splitlines()
        why = f"{name} exited {done.returncode}" + (f": {message[0][:120]}" if message else "")
    return None, why


def write_fallback(text: str, folder: Path, event_id: object, fmt: str) -> str:
    """Write ``text`` to a new file named after the event and format in ``folder``, readable by
    this user only (``mkstemp``: never follows or reuses another's file); returns its path."""
    handle, path = tempfile.mkstemp(
        prefix=f"segdbg-event-{event_id}-{fmt}-", suffix=f".{EXTENSIONS.get(fmt, 'txt')}", dir=folder
    )
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text if text.endswith("\n") else text + "\n")
    return path
