"""What one `segdbg replay` run is: its :class:`RunConfig`, and the spec a run records so that
`segdbg replay --resume` can continue it (see :mod:`debugger.replay.resume`).

The spec holds the selection (its query in canonical form, the statuses, and the instant
relative times count from, so ``after:1h`` means what it meant then), the highest event id it
covers, the plan options, the ``--timestamps shift`` offset, and a token from which
``--new-message-ids`` derives each event's new id (:class:`StableIds`: a re-sent event carries
the same id as before). The write key itself is not stored, only a :func:`fingerprint`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from debugger.core.query.language import canonical, parse
from debugger.core.replay.planning import ReplayOptions
from debugger.core.replay.retry import RetryPolicy
from debugger.core.replay.selection import OK_ONLY, Selection


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything one run needs, built by the command from its options."""

    db: Path
    target: str
    query: str | None
    options: ReplayOptions
    policy: RetryPolicy
    concurrency: int
    timestamps: str
    recorded_options: Mapping[str, Any] = field(default_factory=dict)
    selection: Selection = OK_ONLY
    resume_of: int | None = None  # continue this run (`replay --resume`) instead of starting one
    token: str | None = None  # the run's seed for --new-message-ids (see StableIds)


VERSION = 2  # 1 kept the selection as SQL, before it was read through the search index


def fingerprint(write_key: str | None) -> str | None:
    """A short hash that recognises the write key without storing it."""
    return None if write_key is None else hashlib.sha256(write_key.encode()).hexdigest()[:16]


class StableIds:
    """``--new-message-ids`` that are the same every time an event is planned in a run:
    ``uuid5(token, event id)``. :meth:`track` notes which event is being planned."""

    def __init__(self, token: str) -> None:
        self.namespace = uuid.UUID(token)
        self.current: Any = None

    def track(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Pass events through, remembering the one the planner is at."""
        for event in events:
            self.current = event.get("id")
            yield event

    def __call__(self) -> str:
        return str(uuid.uuid5(self.namespace, str(self.current)))


def bounded(selection: Selection, upto: int) -> Selection:
    """A :class:`~debugger.core.replay.selection.Selection` limited to the events stored when the run started."""
    return replace(selection, upto=int(upto))


def _selection_spec(selection: Selection) -> dict[str, Any]:
    return {
        "query": canonical(selection.query) if selection.query is not None else None,
        "now": selection.now.isoformat() if selection.now is not None else None,
        "statuses": list(selection.statuses) if selection.statuses is not None else None,
        "upto": selection.upto,
    }


def selection_from_spec(recorded: Mapping[str, Any], run_id: int) -> Selection:
    """The recorded selection, leaving out what ``run_id`` delivered."""
    statuses = recorded.get("statuses")
    return Selection(
        query=parse(recorded["query"]) if recorded.get("query") is not None else None,
        now=datetime.fromisoformat(recorded["now"]) if recorded.get("now") else None,
        statuses=tuple(statuses) if statuses is not None else None,
        upto=recorded.get("upto"),
        skip_delivered_of=run_id,
    )


def spec(config: RunConfig, *, upto: int, shift: timedelta | None, token: str) -> dict[str, Any]:
    """What ``runs.resume`` holds for a run about to start."""
    options = asdict(config.options)
    options.pop("shift_by", None)
    write_key = options.pop("write_key", None)
    options["id_map"] = dict(options["id_map"])
    return {
        "version": VERSION,
        "selection": _selection_spec(config.selection),  # bounded by `upto` already
        "upto": upto,
        "options": options,
        "write_key": fingerprint(write_key),
        "shift_s": shift.total_seconds() if shift is not None else None,
        "concurrency": config.concurrency,
        "policy": {
            "retries": config.policy.retries,
            "backoff": config.policy.backoff,
            "timeout": config.policy.timeout,
        },
        "token": token,
    }
