"""What a `segdbg replay` run resends: a :class:`Selection` of the capture (pure; read by
:mod:`debugger.store.selection`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from debugger.core.protocol import REJECTED, STATUSES
from debugger.core.query.language import Query
from debugger.core.query.plan import DEFAULT_STATUSES, view_statuses

#: Every status a replay may send: a rejected request holds no message (docs/protocol.md §3.4).
REPLAYABLE = tuple(s for s in STATUSES if s != REJECTED)


@dataclass(frozen=True, slots=True)
class Selection:
    """What a run replays: a parsed query (``None``: everything), read through the search index.

    Attributes:
        query: the filter (:mod:`debugger.core.query.language`).
        now: the instant its relative times (``after:1h``) count from.
        statuses: only these statuses; by default what Segment would have accepted and
            forwarded (:func:`debugger.core.query.plan.view_statuses`).
        upto: only events with ``id <= upto`` (a run covers the events stored when it started).
        skip_delivered_of: leave out the events this run recorded as delivered (``--resume``).
    """

    query: Query | None = None
    now: datetime | None = None
    statuses: tuple[str, ...] | None = DEFAULT_STATUSES
    upto: int | None = None
    skip_delivered_of: int | None = None

    @property
    def before_id(self) -> int | None:
        return None if self.upto is None else self.upto + 1


OK_ONLY = Selection()


def for_query(parsed: Query | None, now: datetime) -> Selection:
    """The events a replay QUERY selects: only accepted (``ok``) events unless it has a status: term.

    What Segment would have accepted and forwarded, unless the query names statuses; never a
    rejected request, which holds no message to send (docs/protocol.md §3.4).
    """
    statuses = view_statuses(parsed)
    return Selection(parsed, now, tuple(statuses) if statuses is not None else REPLAYABLE)


def replay_target(url: str) -> str:
    """A replay target's root URL (a trailing ``/v1`` removed).

    Raises:
        ValueError: not an http(s) URL, or one with credentials in it (the write key is the Basic auth).
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL, e.g. http://127.0.0.1:8088")
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials in the URL are not supported: the write key is the Basic auth (see --write-key)")
    return url.strip().rstrip("/").removesuffix("/v1")
