"""`segdbg send`: send JSON / NDJSON files or folders to a server, as a client library would."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import orjson

from debugger.core.exitcode import ExitCode
from debugger.core.http.routes import DEFAULT_URL
from debugger.core.inputs.payloads import FILE_FORMATS, LineError, PlannedRequest, body_write_key, plan_file
from debugger.core.pretty.render import inert
from debugger.server.client import base_url

VERBOSE_LIMIT = 50


@dataclass(slots=True)
class _Sent:
    request: PlannedRequest
    status: int | None
    answer: str


def collect_files(paths: tuple[Path, ...]) -> Iterator[Path]:
    """Files in the order given; folders expanded recursively, JSON formats only, a folder's own
    files (sorted) before its subfolders' (so `sample_events/` sends the good samples before `invalid/`)."""
    for path in paths:
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FILE_FORMATS]
            yield from sorted(found, key=lambda p: folder_order(p.relative_to(path)))
        else:
            yield path


def folder_order(relative: Path) -> tuple[tuple[int, str], ...]:
    """Sort key: a folder's files (0) before its subfolders (1), each by name."""
    return (*((1, part) for part in relative.parts[:-1]), (0, relative.name))


@click.command("send")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--to",
    "url",
    default=lambda: os.environ.get("SEGDBG_URL", DEFAULT_URL),
    show_default=DEFAULT_URL,
    help="Server root URL ($SEGDBG_URL). Paths like /v1/batch are appended.",
)
@click.option("--write-key", default=None, help="Send this key as HTTP Basic auth on every request.")
@click.option(
    "--batch-size",
    default=100,
    show_default=True,
    type=click.IntRange(1, 2500),
    help="Messages per batch built from JSON lines.",
)
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests in flight at once (1 keeps file order).",
)
def command(paths: tuple[Path, ...], url: str, write_key: str | None, batch_size: int, concurrency: int) -> None:
    """Send payload files to a Segment-compatible server.

    A .json file is sent verbatim: a batch envelope to /v1/batch, a message to
    /v1/<type>, a JSON array as a batch. A .jsonl/.ndjson file has one message per line,
    sent in batches. Exports of `segdbg events --format jsonl|json|har` go back in (each
    event re-sent as received, with its original timestamps), and so does a .har file
    saved by a browser (its POSTs to /v1/... paths). Folders are searched recursively.
    Exits 0 when every request was answered 200, 3 when the server rejected some, 4 when
    it cannot be reached. Messages need a write key: a "writeKey" in the file, or
    --write-key (refused requests without one get a hint saying so).

    \b
    Examples:
      segdbg send sample_events/
      segdbg send events.jsonl --to http://127.0.0.1:9000 --write-key wk_test
      segdbg send sample_events/invalid/    # see how segdbg reports each problem
      segdbg send capture.har               # an export, or a browser's HAR of your app
    """
    now = datetime.now(UTC)
    planned: list[PlannedRequest] = []
    line_errors: list[LineError] = []
    for file in collect_files(paths):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc
        for item in plan_file(str(file), data, now=now, batch_size=batch_size):
            (line_errors if isinstance(item, LineError) else planned).append(item)  # type: ignore[arg-type]
    for error in line_errors:
        click.echo(f"skip  {inert(error.origin)}: {error.message}", err=True)
    if not planned:
        raise click.ClickException("nothing to send: no .json, .jsonl or .ndjson payloads in the paths given.")
    results = asyncio.run(_send_all(base_url(url), planned, write_key, concurrency))
    accepted = sum(1 for r in results if r.status == 200)
    messages = sum(r.request.messages for r in results if r.status == 200)
    rejected = len(results) - accepted
    click.echo(
        f"Sent {len(results):,} request{'s' if len(results) != 1 else ''} to {base_url(url)}: "
        f"{accepted:,} accepted ({messages:,} messages), {rejected:,} rejected.",
        err=True,
    )
    keyless = [r for r in results if _refused_key(r) and body_write_key(r.request.body) is None]
    if keyless and not write_key:
        click.echo(
            f"hint: {len(keyless):,} request{'s' if len(keyless) != 1 else ''} refused with invalid_write_key: "
            'the messages carry no "writeKey". Pass --write-key KEY (sent as HTTP Basic auth, as the libraries '
            'do), or add "writeKey" to the files.',
            err=True,
        )
    if any(r.status is None for r in results):
        raise SystemExit(ExitCode.UNREACHABLE)
    if rejected or line_errors:
        raise SystemExit(ExitCode.FAILED)


async def _send_all(root: str, planned: list[PlannedRequest], write_key: str | None, concurrency: int) -> list[_Sent]:
    # Lazily: aiohttp (kept off `segdbg --help`, which imports every command).
    import aiohttp
    from rich.progress import Progress

    headers = {"Content-Type": "application/json", "User-Agent": "segdbg-send"}
    if write_key:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    verbose = len(planned) <= VERBOSE_LIMIT
    results: list[_Sent | None] = [None] * len(planned)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(planned)):
        queue.put_nowait(index)
    unreachable = asyncio.Event()

    async def worker(session: aiohttp.ClientSession, progress: Progress | None, task: object) -> None:
        while not queue.empty() and not unreachable.is_set():
            index = queue.get_nowait()
            request = planned[index]
            try:
                async with session.post(root + request.path, data=request.body, headers=headers) as response:
                    text = await response.text(errors="replace")
                    results[index] = _Sent(request, response.status, text.strip())
            except aiohttp.ClientConnectorError as exc:
                unreachable.set()
                results[index] = _Sent(request, None, f"cannot connect to {root}: {exc.os_error or exc}")
            except (TimeoutError, aiohttp.ClientError) as exc:
                results[index] = _Sent(request, 0, f"request failed: {exc!r}")
            sent = results[index]
            assert sent is not None
            if verbose or sent.status != 200:
                _report(sent)
            if progress is not None:
                progress.advance(task)  # type: ignore[arg-type]

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        if verbose:
            await asyncio.gather(*(worker(session, None, None) for _ in range(concurrency)))
        else:
            with Progress(transient=True) as progress:
                task = progress.add_task("sending", total=len(planned))
                await asyncio.gather(*(worker(session, progress, task) for _ in range(concurrency)))
    done = [r for r in results if r is not None]
    if unreachable.is_set():
        failed = next((r for r in done if r.status is None), None)
        click.echo(f"error: {failed.answer if failed else root}", err=True)
    return done


def _refused_key(sent: _Sent) -> bool:
    """Whether the server answered Segment's ``400 invalid_write_key``."""
    if sent.status != 400:
        return False
    try:
        answer = orjson.loads(sent.answer)
    except orjson.JSONDecodeError:
        return False
    return isinstance(answer, dict) and answer.get("code") == "invalid_write_key"


def _report(sent: _Sent) -> None:
    request = sent.request
    status = "---" if sent.status is None else str(sent.status)
    what = f"{request.messages} message{'s' if request.messages != 1 else ''}"
    answer = "" if sent.status == 200 else f"  {inert(sent.answer, 160)}"
    notes = f"  ({'; '.join(request.notes)})" if request.notes else ""
    click.echo(f"{status}  {inert(request.origin, 80)} → {request.path} ({what}){notes}{answer}")
