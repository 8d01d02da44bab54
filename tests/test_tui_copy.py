"""Copy that arrives: c copies through the platform clipboard command when there is one, else writes a file
and names it; OSC 52 is sent too, and the notification says what was done. The clipboard command is a
script on PATH here (the one part that cannot run for real)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import orjson
import pytest

from debugger.tui import clipboard
from debugger.tui.clipboard import CopyResult
from tests.tui_support import fill, main_screen, make_app, message_request, settle


def _fake_clipboard(folder: Path, name: str, *, exit_code: int = 0) -> Path:
    """A script called ``name`` that writes its stdin to ``folder/name.out`` (and exits ``exit_code``); it needs
    nothing from PATH, which the tests replace."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    out = folder / f"{name}.out"
    script.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())\n"
        f"print('no display here', file=sys.stderr)\nsys.exit({exit_code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return out


def _notes(app: object) -> list[str]:
    return [str(n.message) for n in app._notifications]  # type: ignore[attr-defined]


def test_clipboard_commands_follow_path_and_the_session() -> None:
    """wl-copy needs Wayland, xclip/xsel need X; pbcopy and clip.exe need only to exist; order is kept."""
    on_path = {"wl-copy", "xclip", "xsel", "pbcopy", "clip.exe"}

    def which(name: str) -> str | None:
        return f"/bin/{name}" if name in on_path else None

    everything = clipboard.clipboard_commands(which, {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"})
    assert everything == [
        ("/bin/wl-copy",),
        ("/bin/xclip", "-selection", "clipboard"),
        ("/bin/xsel", "--clipboard", "--input"),
        ("/bin/pbcopy",),
        ("/bin/clip.exe",),
    ]
    assert clipboard.clipboard_commands(which, {}) == [("/bin/pbcopy",), ("/bin/clip.exe",)]  # no display: no X/Wayland
    on_path = {"xsel"}
    assert clipboard.clipboard_commands(which, {"DISPLAY": ":0"}) == [("/bin/xsel", "--clipboard", "--input")]
    assert clipboard.clipboard_commands(lambda _: None, {"DISPLAY": ":0"}) == []


@pytest.mark.parametrize(
    ("result", "message", "severity"),
    [
        (CopyResult("wl-copy", True), "Copied the event as JSON (1,200 characters) with wl-copy.", "information"),
        (
            CopyResult(None, True, "/tmp/segdbg-event-7-json-x.json", "no clipboard command found"),
            "Sent to the terminal (OSC 52) and wrote the event as JSON (1,200 characters) to "
            "/tmp/segdbg-event-7-json-x.json (no clipboard command found).",
            "warning",
        ),
        (
            CopyResult(None, False, "/tmp/f.json", "xclip exited 1"),
            "No clipboard command worked; wrote the event as JSON (1,200 characters) to /tmp/f.json (xclip exited 1).",
            "warning",
        ),
        (
            CopyResult(None, True, None, "disk full"),
            "Sent the event as JSON (1,200 characters) to the terminal (OSC 52), which may drop it; "
            "no file could be written (disk full).",
            "warning",
        ),
        (
            CopyResult(None, False, None, "disk full"),
            "Could not copy the event as JSON (1,200 characters) (disk full).",
            "error",
        ),
    ],
)
def test_the_report_says_what_was_done(result: CopyResult, message: str, severity: str) -> None:
    """Never "Copied" unless a clipboard command took the text; otherwise the file, or the failure."""
    assert clipboard.report("the event as JSON", 1200, result) == (message, severity)


async def test_copy_goes_through_the_clipboard_command_on_path(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With wl-copy on PATH under Wayland, c j gives it the JSON on stdin and says "with wl-copy"; no file."""
    out = _fake_clipboard(tmp_path / "bin", "wl-copy")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    fill(db_path, [message_request({"type": "track", "event": "Copied", "userId": "u1"})])
    app = make_app(db_path, copy_dir=tmp_path / "files")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("c", "j")
        await settle(pilot)
        assert orjson.loads(out.read_text())["event"] == "Copied"
        [note] = _notes(app)
        assert note.startswith("Copied the event as JSON (") and note.endswith(" with wl-copy.")
        assert app.clipboard == out.read_text()  # the app's own clipboard (and OSC 52 in a terminal) too
    assert not (tmp_path / "files").exists()


async def test_a_failing_command_falls_back_to_the_next(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xclip exits 1 (no X server): xsel is tried next and takes the text."""
    failed = _fake_clipboard(tmp_path / "bin", "xclip", exit_code=1)
    out = _fake_clipboard(tmp_path / "bin", "xsel")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    fill(db_path, [message_request({"type": "track", "event": "Copied", "userId": "u1"})])
    app = make_app(db_path, copy_dir=tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("c", "u")
        await settle(pilot)
    assert failed.read_text().startswith("curl ") and out.read_text() == failed.read_text()
    assert _notes(app)[-1].endswith(" with xsel.")


async def test_without_a_clipboard_command_the_text_goes_to_a_named_file(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty PATH: the text is written to a file named after the event and format (this user only),
    and the notification names it instead of claiming a copy."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    [event_id] = fill(db_path, [message_request({"type": "track", "event": "Filed", "userId": "u1"})])
    app = make_app(db_path, copy_dir=tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("c", "j")
        await settle(pilot)
        await pilot.press("c", "u")
        await settle(pilot)
        assert app.screen is main_screen(app)
    [as_json] = sorted(tmp_path.glob(f"segdbg-event-{event_id}-json-*.json"))
    [as_curl] = sorted(tmp_path.glob(f"segdbg-event-{event_id}-curl-*.sh"))
    assert orjson.loads(as_json.read_text())["event"] == "Filed"
    assert as_curl.read_text().startswith("curl 'http://127.0.0.1:8088/v1/track'")
    assert stat.S_IMODE(os.stat(as_json).st_mode) == 0o600
    first, second = _notes(app)
    assert first.startswith("No clipboard command worked; wrote the event as JSON (")
    assert f"to {as_json} (no clipboard command found" in first and "Copied" not in first
    assert f"to {as_curl} (" in second
