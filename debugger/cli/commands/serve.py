"""`segdbg serve`: the local Segment endpoint, with the TUI when stdout is a terminal.

With the TUI, the server runs in a child process (`serve --headless --quiet`) and the TUI
follows the capture file, exactly as `segdbg tui --db` does: the UI and ingest never share
an interpreter, so a busy screen cannot slow ingest (bench/tui.py measured a thread in the
same process costing far more; see docs/performance.md).
"""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import random
import signal
import socket
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import click

from debugger.cli.commands.tui import DEFAULT_CAP, cap_option, plan_option, terminal
from debugger.cli.commands.vacuum import max_age_option, max_events_option
from debugger.cli.options import (
    ca_dir_option,
    db_option,
    load_routing,
    parse_query,
    resolve_ca_dir,
    resolve_db,
    routing_option,
)
from debugger.core.fault import EXAMPLES, Rule, RuleError, parse_rule
from debugger.core.http.hosts import OTHERS, PASS
from debugger.core.http.routes import DEFAULT_HOST, DEFAULT_INTERCEPT_PORT, DEFAULT_PORT
from debugger.core.pretty.render import inert
from debugger.core.protocol import REJECTED
from debugger.core.replay.selection import replay_target
from debugger.server.addresses import is_loopback


def lan_addresses() -> list[str]:
    """This machine's addresses a phone on the same network could use (no packet is sent)."""

    found: list[str] = []
    for probe in ("192.0.2.1", "10.255.255.255"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((probe, 9))  # UDP connect only picks a route; nothing goes out
                address = sock.getsockname()[0]
            except OSError:
                continue
        if address not in found and not address.startswith("127."):
            found.append(address)
    return found


class _Printer:
    """Counts what was handled and, unless quiet, prints one line per request."""

    def __init__(self, out: TextIO, quiet: bool) -> None:
        self.out, self.quiet = out, quiet
        self.requests = 0
        self.statuses: Counter[str] = Counter()
        self.rejected = 0
        self.faulted = 0

    def __call__(self, handled: object) -> None:
        # Lazily: the server loads aiohttp (kept off `segdbg --help`, which imports every command).
        from debugger.server.keys import Handled

        assert isinstance(handled, Handled)
        outcome, result = handled.outcome, handled.result
        record = outcome.record
        if record is None:
            return
        self.requests += 1
        statuses = result.statuses if result is not None else ()
        events = [s for s in statuses if s != REJECTED]
        self.statuses.update(events)
        if len(events) != len(statuses) or (not statuses and outcome.reply.status != 200):
            self.rejected += 1
        if record.fault is not None:
            self.faulted += 1
        if self.quiet:
            return
        counts = Counter(events)
        detail = ""
        if events:
            extra = ", ".join(f"{n} {s}" for s, n in counts.items() if s != "ok")
            detail = f"{len(events)} event{'s' if len(events) != 1 else ''}" + (f" ({extra})" if extra else "")
        elif record.code:
            detail = f"{'rejected ' if statuses else ''}{record.code}: {record.message or ''}"
        library = next((e.library_name for e in outcome.events if e.library_name), None)
        parts = [
            record.received_at[11:23],
            f"{record.method:<7}",
            inert(record.path, 60),
            str(outcome.reply.status),
            inert(detail, 120),
            inert(record.write_key or "-", 40),
            inert(library or "", 40),
            f"{handled.seconds * 1000:.1f} ms",
            f"fault: {record.fault}" if record.fault is not None else "",
        ]
        self.out.write("  ".join(p for p in parts if p) + "\n")
        self.out.flush()

    def summary(self) -> str:
        """One line: requests, events by status, requests rejected as a whole."""
        total = sum(self.statuses.values())
        by_status = " · ".join(f"{n:,} {s}" for s, n in sorted(self.statuses.items()))
        rejected = f" · {self.rejected:,} rejected" if self.rejected else ""
        faulted = f" · {self.faulted:,} faulted on purpose" if self.faulted else ""
        counts = f"{self.requests:,} requests · {total:,} events" + (f" ({by_status})" if by_status else "")
        return counts + rejected + faulted


def _fault_rules(_ctx: click.Context, _param: click.Parameter, texts: tuple[str, ...]) -> tuple[Rule, ...]:
    """``--fault`` values read as rules (docs/faults.md); a bad one is a usage error naming the word at fault."""
    try:
        return tuple(parse_rule(text) for text in texts)
    except RuleError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from exc


@click.command("serve")
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Interface to bind. The default accepts connections from this machine only. "
    "--host 0.0.0.0 --allow-remote (e.g. so a phone can send) prints the LAN URL to use; then anything on your "
    "network can send events, while the debugger API (read, reset) still answers only this machine.",
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0: any free port).",
)
@db_option
@click.option("--headless", is_flag=True, help="No terminal UI: print one line per request instead.")
@click.option("--quiet", "-q", is_flag=True, help="Headless: print no line per request, only the summary.")
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Needed to bind anything but loopback (see --host): other machines on your network can then reach "
    "this server.",
)
@click.option(
    "--write-key",
    "write_keys",
    multiple=True,
    help="Accept only this write key (repeatable); others get Segment's 400 invalid_write_key.",
)
@max_events_option
@max_age_option
@cap_option
@plan_option
@routing_option("A routing file (docs/routing.md): the API's /debugger/api/route judges events for it.", required=False)
@click.option(
    "--intercept",
    type=click.IntRange(0, 65535),
    is_flag=False,
    flag_value=DEFAULT_INTERCEPT_PORT,
    default=None,
    metavar="[PORT]",
    help=f"Also run an HTTP(S) proxy on PORT (default {DEFAULT_INTERCEPT_PORT}) that captures Segment's own hosts "
    "(api.segment.io, cdn.segment.com, the EU hosts; and Customer.io's) without re-pointing the app: TLS is terminated with a "
    "local CA (segdbg ca --install-hint says how to trust it). Binds --host, so loopback unless --allow-remote.",
)
@click.option(
    "--intercept-others",
    type=click.Choice(OTHERS),
    default=PASS,
    show_default=True,
    help="With --intercept, what happens to every other host: pass (a byte-for-byte tunnel, never decrypted "
    "or recorded) or refuse (403).",
)
@ca_dir_option
@click.option(
    "--forward",
    "forward_urls",
    multiple=True,
    metavar="URL",
    help="Also send every accepted request on to this upstream (repeatable), after it is stored, as it arrived: "
    "staging Segment, RudderStack, another segdbg. The answer to the client never waits for it; each forward is "
    "recorded as a delivery (the TUI's Deliveries screen, d). See docs/forward.md.",
)
@click.option(
    "--forward-write-key",
    metavar="KEY",
    default=None,
    help="With --forward: replace the write key (Basic/Bearer auth, ?writeKey=, the body's writeKey) with KEY upstream.",
)
@click.option(
    "--forward-only",
    metavar="QUERY",
    default=None,
    help="With --forward: only events matching QUERY (the filter language, or fql:...) go upstream; a batch "
    "with some matching is sent rebuilt with only those. Keeps test traffic out of production.",
)
@click.option(
    "--forward-retries",
    type=click.IntRange(0, 100),
    default=5,
    show_default=True,
    metavar="N",
    help="With --forward: retries per request for 5xx, 429 (honouring Retry-After) and network errors.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="RULE",
    callback=_fault_rules,
    help="Misbehave on purpose (repeatable; docs/faults.md): "
    + ", ".join(f"'{e}'" for e in EXAMPLES)
    + ". Only requests that carry events are faulted; each is recorded with its rule and its body, and its "
    "events do not count as arrived. Then `segdbg delivery-check` says what each client delivered.",
)
@click.option(
    "--fault-seed",
    type=int,
    default=None,
    help="Seed of the --fault percentages' draws, so a run repeats (default: a new one, printed at start).",
)
@click.option("--exit-with-parent", type=int, default=None, hidden=True, help="Stop when this process id is gone.")
def command(
    host: str,
    port: int,
    db: Path | None,
    headless: bool,
    quiet: bool,
    allow_remote: bool,
    write_keys: tuple[str, ...],
    max_events: int | None,
    max_age: Any,
    cap: int,
    plan: Path | None,
    routing_path: Path | None,
    intercept: int | None,
    intercept_others: str,
    ca_dir: Path | None,
    forward_urls: tuple[str, ...],
    forward_write_key: str | None,
    forward_only: str | None,
    forward_retries: int,
    faults: tuple[Rule, ...],
    fault_seed: int | None,
    exit_with_parent: int | None,
) -> None:
    """Run the local Segment endpoint, store everything that arrives, and show it live.

    Speaks Segment's HTTP Tracking API (/v1/batch, /v1/track, /v1/t, /v1/b, pixel,
    settings, ...) so client libraries send to it unmodified. Every request is stored in
    the capture database, accepted or not; 200 is answered only after the rows are
    committed. In a terminal it opens the TUI (q quits); with --headless, or when stdout
    is not a terminal, it prints one line per request instead. Quitting, Ctrl-C or SIGTERM
    drains pending writes, prints a summary and exits 0.

    With --forward URL every accepted request also goes on to that upstream once stored,
    with its headers and body, retried on 5xx/429; --forward-only QUERY keeps the rest local.

    With --max-events/--max-age the capture keeps only that much: older events are deleted
    in small steps on the writer's idle time (never while a request waits for its answer),
    with their requests; pinned events (`segdbg pin ID`, or `P` in the TUI) are always kept.

    \b
    Examples:
      segdbg serve                                 # server + TUI
      segdbg serve --headless
      segdbg serve --port 9000 --db /tmp/checkout.db --quiet --headless
      segdbg serve --max-events 100000 --max-age 7d   # keep a week, at most 100,000 (pinned always)
      segdbg serve --routing routing.yaml          # GET /debugger/api/route?id=42 explains delivery
      segdbg serve --forward https://api.segment.io --forward-only 'source:web-dev' --forward-write-key wk_staging
      segdbg serve --fault '503 30%' --fault-seed 7   # then: segdbg delivery-check
      analytics.host = 'http://127.0.0.1:8088'     # in analytics-python
      segdbg serve --intercept                     # + proxy on :8090; HTTPS_PROXY=http://127.0.0.1:8090
    """
    # Lazily: the server's settings load the store (kept off `segdbg --help`, which imports every command).
    from debugger.server.settings import Settings

    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(
            f"--host {host} would let other machines on your network send events to this capture; "
            "add --allow-remote if that is what you want."
        )
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.retention import Policy

    settings = Settings(
        intercept=_intercept(intercept, host, intercept_others, ca_dir),
        db=resolve_db(db),
        host=host,
        port=port,
        quiet=quiet,
        write_keys=frozenset(write_keys),
        retention=Policy(max_events, max_age),
        routing=load_routing(routing_path) if routing_path is not None else None,
        faults=faults,
        fault_seed=fault_seed
        if fault_seed is not None or not faults
        else random.SystemRandom().randrange(1, 1_000_000),
    )
    forward = _forward_config(settings.db, forward_urls, forward_write_key, forward_only, forward_retries)
    for url in forward_urls:
        if _is_this_server(url, host, port):
            raise click.BadParameter(
                f"{url} is this server: every request would be forwarded to itself, forever.", param_hint="--forward"
            )
    notice = _shared_capture_notice(settings.db)
    if notice:
        click.echo(f"warning: {notice}", err=True)
    if not headless and terminal():
        forward_args = [a for url in forward_urls for a in ("--forward", url)]
        for option, value in (("--forward-write-key", forward_write_key), ("--forward-only", forward_only)):
            forward_args += [option, value] if value is not None else []
        forward_args += ["--forward-retries", str(forward_retries)] if forward_urls else []
        if settings.faults:  # the TUI shows it as a warning: this server misbehaves on purpose
            notice = " ".join(filter(None, [notice, _faults_line(settings)]))
        if settings.intercept is not None:  # the child server's own lines are not on the screen: say where
            notice = " ".join(filter(None, [notice, _intercept_line(settings.intercept)]))
        _serve_with_tui(settings, cap, plan, notice, forward_args)
        return
    printer = _Printer(sys.stdout, quiet)
    try:
        asyncio.run(_serve(settings, printer, exit_with_parent, forward))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"{host}:{port} is already in use (another segdbg?). Stop it, or pick another port with --port."
                if intercept is None
                else f"{host}:{port} or the intercept port {intercept} is already in use (another segdbg?). "
                "Stop it, or pick other ports with --port and --intercept PORT."
            ) from exc
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


#: Where the intercept proxy may connect (any, loopback, none); the test suite sets loopback, so a proxy
#: it starts can never reach past this machine (docs/intercept.md).
DIAL_ENV = "SEGDBG_INTERCEPT_DIAL"


def _intercept(port: int | None, host: str, others: str, ca_dir: Path | None) -> Any:
    """The proxy's configuration, or ``None`` without ``--intercept``."""
    if port is None:
        return None
    # Lazily: the server's settings load the store (kept off `segdbg --help`, which imports every command).
    from debugger.server.settings import DIAL_ANY, DIAL_LOOPBACK, DIAL_NONE, Intercept

    dial = os.environ.get(DIAL_ENV) or DIAL_ANY
    if dial not in (DIAL_ANY, DIAL_LOOPBACK, DIAL_NONE):
        raise click.UsageError(f"${DIAL_ENV} must be {DIAL_ANY}, {DIAL_LOOPBACK} or {DIAL_NONE}, not {dial!r}.")
    return Intercept(ca_dir=resolve_ca_dir(ca_dir), host=host, port=port, others=others, dial=dial)


def _intercept_line(config: Any) -> str:
    """``Intercept proxy on http://127.0.0.1:8090 ...``: what the TUI says when the proxy runs beside the server."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    where = f"http://{host}:{config.port}" if config.port else f"a free port on {host}"
    return (
        f"Intercept proxy on {where} for Segment's hosts (HTTPS_PROXY={where if config.port else '…'}); "
        "trust its CA: segdbg ca --install-hint."
    )


def _forward_config(
    db: Path, urls: tuple[str, ...], write_key: str | None, only: str | None, retries: int
) -> object | None:
    """The forwarder's configuration (``None`` without --forward), or a usage error."""
    if not urls:
        for name, value in (("--forward-write-key", write_key), ("--forward-only", only)):
            if value is not None:
                raise click.UsageError(f"{name} needs --forward URL (where to forward to).")
        return None
    targets: list[str] = []
    for url in urls:
        try:
            targets.append(replay_target(url))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--forward") from None
    query = parse_query(only) if only is not None else None
    # Lazily: the forwarder loads aiohttp (kept off `segdbg --help`, which imports every command).
    from debugger.core.replay.retry import RetryPolicy
    from debugger.replay.forward import ForwardConfig

    return ForwardConfig(
        db=db, targets=tuple(targets), write_key=write_key, query=only, only=query, policy=RetryPolicy(retries=retries)
    )


def _is_this_server(url: str, host: str, port: int) -> bool:
    """Whether ``url`` names the server being started (``--forward`` to itself would loop)."""
    parts = urlsplit(url.strip())
    target_port = parts.port or (443 if parts.scheme == "https" else 80)
    name = (parts.hostname or "").lower()
    ours = {host.lower(), "localhost"} | (set(lan_addresses()) if not is_loopback(host) else set())
    return port != 0 and target_port == port and (name in ours or is_loopback(name))


def _faults_line(settings: Any) -> str:
    """``Faults on purpose: '503 30%' (--fault-seed 7 repeats the draws). Then: segdbg delivery-check``."""
    rules = "; ".join(f"'{rule.text}'" for rule in settings.faults)
    return f"Faults on purpose: {rules} (--fault-seed {settings.fault_seed} repeats the draws). Then: segdbg delivery-check"


def _shared_capture_notice(path: Path) -> str | None:
    """What to say when another live segdbg server already writes ``path`` (else ``None``)."""
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, reader
    from debugger.store.servers import running_servers

    if not path.exists():
        return None
    try:
        with reader(path) as conn:
            others = [s for s in running_servers(conn) if s.get("pid") != os.getpid()]
    except StoreError:
        return None  # a file serve will refuse anyway, with the reason
    if not others:
        return None
    where = ", ".join(f"{inert(s.get('url'), 80)} (pid {s['pid']})" for s in others)
    return (
        f"{path} is already written by another segdbg server: {where}. Both will store into this capture, "
        "and each one's summary counts only its own requests; pass another --db to keep them apart."
    )


async def _serve(settings: object, printer: _Printer, parent: int | None = None, forward: object = None) -> None:
    # Lazily: the server loads aiohttp (kept off `segdbg --help`, which imports every command).
    from debugger.replay.forward import ForwardConfig
    from debugger.replay.forward_process import ForwardError, ForwardProcess
    from debugger.server.app import make_app, start
    from debugger.server.ca import CAError
    from debugger.server.keys import Handled, intercept_key
    from debugger.server.settings import Settings
    from debugger.store.capture import StoreError

    assert isinstance(settings, Settings)
    forwarder: ForwardProcess | None = None
    observer: Callable[[object], None] = printer
    if isinstance(forward, ForwardConfig):
        # The server and replay are independent parts: the forwarder (replay/) hears of each stored
        # request through the server's observer, wired here.
        forwarder = ForwardProcess(forward)
        offer = forwarder.offer

        def observer(handled: object) -> None:
            printer(handled)
            assert isinstance(handled, Handled)
            offer(handled)

    app = make_app(settings, observer=observer)
    try:
        if forwarder is not None:
            await forwarder.start()
        runner, port = await start(app, settings.host, settings.port)
    except (StoreError, CAError, ForwardError) as exc:
        if forwarder is not None:
            await forwarder.close()
        raise click.ClickException(str(exc)) from exc
    # Ready for Ctrl-C/SIGTERM before saying so: a supervisor (or a test) that stops the server as
    # soon as it reads "listening" must get the drain, not the default exit by signal.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watchdog: asyncio.Task[None] | None = None
    try:
        # Everything start-up built (aiohttp, the app, the modules) lives as long as the server: out
        # of the collector's reach, a full collection is ~2 ms instead of ~43 ms, a pause every
        # request in flight would wait for (seen twice in 20 s at 5,000 events/s).
        gc.freeze()
        url_host = f"[{settings.host}]" if ":" in settings.host else settings.host
        click.echo(f"segdbg listening on http://{url_host}:{port}  ·  capture {settings.db}", err=True)
        if not is_loopback(settings.host):
            for address in lan_addresses():
                click.echo(f"From a phone or another machine on your network: http://{address}:{port}", err=True)
        proxy = app.get(intercept_key)
        if proxy is not None:
            click.echo(
                f"Intercept proxy on http://{url_host}:{proxy.port} for Segment's hosts (others: "
                f"{proxy.config.others}); CA {proxy.ca.cert_path} (segdbg ca --install-hint)",
                err=True,
            )
        if settings.write_keys:
            click.echo(f"Accepting only write keys: {', '.join(sorted(settings.write_keys))}", err=True)
        if settings.retention.active:
            click.echo(
                f"Retention: keeping {settings.retention.describe()}; older events are deleted in the background.",
                err=True,
            )
        query = forwarder.config.query if forwarder is not None else None
        for upstream in forwarder.upstreams if forwarder is not None else ():
            only = f" (only {inert(query, 200)})" if query else ""
            click.echo(f"Forwarding to {inert(upstream.target, 200)}{only}: run #{upstream.run_id}", err=True)
        if settings.faults:
            click.echo(_faults_line(settings), err=True)
        click.echo(f"Point a library at it, e.g. analytics.host = 'http://{url_host}:{port}'. Ctrl-C stops.", err=True)
        watchdog = asyncio.create_task(_watch_parent(parent, stop)) if parent else None
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if watchdog is not None:
            watchdog.cancel()
        click.echo("Stopping: finishing in-flight requests and draining writes…", err=True)
        await runner.cleanup()
        for result in await forwarder.close() if forwarder is not None else ():
            summary = result.summary
            click.echo(
                f"Forwarded to {inert(result.target, 200)}: {summary['delivered']:,} events delivered, "
                f"{summary['not_delivered']:,} not delivered (run #{result.run_id}; the TUI's d screen shows it)."
                + (f" Recording failed: {result.record_error}" if result.record_error else ""),
                err=True,
            )
        click.echo(f"Stopped. {printer.summary()} in {settings.db}", err=True)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """A server started for a TUI stops when that TUI's process is gone (even if killed)."""

    while os.getppid() == parent:
        await asyncio.sleep(1)
    stop.set()


def _serve_with_tui(
    settings: object,
    cap: int = DEFAULT_CAP,
    plan: Path | None = None,
    notice: str | None = None,
    forward_args: list[str] | None = None,
) -> None:
    # Lazily: the child server's settings load the store (kept off `segdbg --help`, which imports every command).
    from debugger.cli.child import ChildServer
    from debugger.cli.commands.tui import run_tui
    from debugger.server.settings import Settings

    assert isinstance(settings, Settings)
    server = ChildServer.start(settings, extra=forward_args or ())
    try:
        run_tui(settings.db, url=server.url, cap=cap, plan=plan, notice=notice, routing=settings.routing)
    finally:
        summary = server.stop()
    click.echo(summary or f"Stopped. Capture in {settings.db}", err=True)
