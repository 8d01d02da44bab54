"""The one configuration object, built by the CLI and passed down (docs/architecture.md §5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from debugger.core.fault import Rule
from debugger.core.http.hosts import PASS
from debugger.core.http.routes import DEFAULT_HOST, DEFAULT_INTERCEPT_PORT, DEFAULT_PORT
from debugger.core.routing import Routing
from debugger.store.retention import Policy

#: Where the intercept proxy may connect to (:attr:`Intercept.dial`): anywhere, loopback addresses only
#: (what the test suite sets, so nothing leaves the machine), or nowhere.
DIAL_ANY, DIAL_LOOPBACK, DIAL_NONE = "any", "loopback", "none"


@dataclass(frozen=True, slots=True)
class Intercept:
    """How `segdbg serve --intercept` runs its proxy (docs/intercept.md).

    Attributes:
        ca_dir: the CA's directory (``segdbg ca --path``'s parent).
        host: the interface the proxy binds; loopback unless ``--allow-remote``.
        port: the proxy's TCP port (0 picks a free one).
        others: what happens to a host that is not Segment's: ``pass`` (a byte-for-byte tunnel) or ``refuse``.
        dial: where the proxy may connect for a passed host or a CDN file: ``any``, ``loopback`` or ``none``.
    """

    ca_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_INTERCEPT_PORT
    others: str = PASS
    dial: str = DIAL_ANY


@dataclass(frozen=True, slots=True)
class Settings:
    """How a segdbg server runs.

    Attributes:
        db: the capture file.
        host: the interface to bind; loopback by default so nothing on the network can send.
        port: the TCP port (0 picks a free one).
        quiet: headless mode prints no line per request.
        commit_rows: the most event rows the writer puts in one transaction.
        shutdown_timeout: seconds in-flight requests get to finish on Ctrl-C/SIGTERM.
        body_timeout: seconds a client gets to send its whole body (slow clients get a 408).
        header_timeout: seconds a connection gets to send a complete request line and headers
            (from connecting, or from its last answer when kept alive) before it is closed.
        peer_connections: the most open connections one peer address may hold; past it, the
            peer's longest-idle connection (between requests or still sending headers) is closed.
        max_connections: the same bound over all peers together.
        write_keys: when not empty, the only write keys accepted; others get Segment's 400.
        lock_timeout: seconds the writer waits for another process's lock before answering 503.
        max_pages: a cap on the capture's size in SQLite pages (None: the disk is the limit).
        search_index: keep the full-text index up to date in the background (off: free
            text still works, by scanning).
        retention: what the capture keeps (``--max-events``/``--max-age``); applied by the
            writer on idle time, pinned events exempt.
        routing: the destinations ``GET /debugger/api/route`` judges events for (``--routing FILE``,
            docs/routing.md), read once at start; ``None`` without one.
        intercept: the intercept proxy beside the endpoint (``--intercept``); ``None`` without one.
        faults: the ``--fault`` rules (docs/faults.md), tried in order on each request that carries events.
        fault_seed: the seed of the faults' random draws (``None``: one is chosen and printed).
    """

    db: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    quiet: bool = False
    commit_rows: int = 5000
    shutdown_timeout: float = 10.0
    body_timeout: float = 30.0
    header_timeout: float = 15.0
    peer_connections: int = 128
    max_connections: int = 512
    write_keys: frozenset[str] = frozenset()
    lock_timeout: float = 5.0
    max_pages: int | None = None
    search_index: bool = True
    retention: Policy = field(default_factory=Policy)
    routing: Routing | None = None
    intercept: Intercept | None = None
    faults: tuple[Rule, ...] = ()
    fault_seed: int | None = None
