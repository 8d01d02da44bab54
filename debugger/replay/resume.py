"""`segdbg replay --resume`: continue a run that was interrupted or killed, without re-sending what
was recorded as delivered.

A run records, when it starts, everything needed to continue it (``runs.resume``): the
selection (its query in canonical form, the statuses, and the instant relative times count
from, so ``after:1h`` means what it meant then), the highest event id
it covers (events stored later are not part of it), the plan options, the ``--timestamps
shift`` offset, and a token from which ``--new-message-ids`` derives each event's new id
(so a re-sent event carries the same id as before). The write key itself is not stored, only
a fingerprint: a resumed run asks for ``--write-key`` again and checks it.

**At least once.** Deliveries are recorded in groups shortly after the target answers. An
event the target acknowledged just before a kill, whose delivery was not yet recorded, is
sent again on resume with the same messageId: Segment (and segdbg) de-duplicate it. Nothing
recorded as delivered is ever sent again.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from debugger.core.replay.planning import KEEP, ReplayOptions
from debugger.core.replay.retry import RetryPolicy

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


def bounded(selection: Any, upto: int) -> Any:
    """A :class:`~debugger.replay.selection.Selection` limited to the events stored when the run started."""
    return replace(selection, upto=int(upto))


def _selection_spec(selection: Any) -> dict[str, Any]:
    from debugger.core.query.language import canonical

    return {
        "query": canonical(selection.query) if selection.query is not None else None,
        "now": selection.now.isoformat() if selection.now is not None else None,
        "statuses": list(selection.statuses) if selection.statuses is not None else None,
        "upto": selection.upto,
    }


def _selection(recorded: Mapping[str, Any], run_id: int) -> Any:
    """The recorded selection, leaving out what ``run_id`` delivered."""
    from debugger.core.query.language import parse
    from debugger.replay.selection import Selection

    statuses = recorded.get("statuses")
    return Selection(
        query=parse(recorded["query"]) if recorded.get("query") is not None else None,
        now=datetime.fromisoformat(recorded["now"]) if recorded.get("now") else None,
        statuses=tuple(statuses) if statuses is not None else None,
        upto=recorded.get("upto"),
        skip_delivered_of=run_id,
    )


def spec(config: Any, *, upto: int, shift: timedelta | None, token: str) -> dict[str, Any]:
    """What ``runs.resume`` holds for a run about to start (``config`` is a :class:`RunConfig`)."""
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
        "policy": {"retries": config.policy.retries, "backoff": config.policy.backoff, "timeout": config.policy.timeout},
        "token": token,
    }


class NotResumable(Exception):
    """The run cannot be continued; the message says why and what to do."""


def check(run: Mapping[str, Any], *, me: int, alive: Any = None) -> dict[str, Any]:
    """The run's resume spec, or :class:`NotResumable` with the reason.

    A run still ``running`` whose process exists is being sent right now: resuming it too
    would send its events twice.
    """
    from debugger.store.maintenance import pid_alive

    is_alive = alive or pid_alive
    if not run.get("resume"):
        raise NotResumable(f"run #{run['id']} was recorded without what resuming needs (an older segdbg); start a new replay.")
    pid = run.get("pid")
    if run["status"] == "running" and pid and pid != me and is_alive(pid):
        raise NotResumable(f"run #{run['id']} is still being sent by process {pid}; stop it (Ctrl-C) or wait for it.")
    loaded = orjson.loads(run["resume"])
    if loaded.get("version") != VERSION:
        raise NotResumable(f"run #{run['id']} was recorded by another segdbg version; start a new replay.")
    return dict(loaded)


def config_for(db: Path, run: Mapping[str, Any], resume: Mapping[str, Any], write_key: str | None) -> Any:
    """The :class:`~debugger.replay.run.RunConfig` that continues ``run``.

    Raises:
        NotResumable: the run used a write key and none (or another) was given.
    """
    from debugger.replay.run import RunConfig

    wanted = resume.get("write_key")
    if wanted is not None and write_key is None:
        raise NotResumable(f"run #{run['id']} sent every event with --write-key; give the same --write-key to resume it.")
    if wanted is not None and fingerprint(write_key) != wanted:
        raise NotResumable(f"this is not the --write-key run #{run['id']} was sent with.")
    if wanted is None and write_key is not None:
        raise NotResumable(f"run #{run['id']} sent each event with its own write key; resume it without --write-key.")
    options = dict(resume["options"])
    shift = resume.get("shift_s")
    replay_options = ReplayOptions(
        **options, write_key=write_key, shift_by=timedelta(seconds=shift) if shift is not None else None
    )
    selection = _selection(resume["selection"], int(run["id"]))  # bounded to the events stored when the run started
    recorded = dict(run.get("options") or {})
    return RunConfig(
        db=db, target=run["target"], query=run.get("query"), options=replay_options,
        policy=RetryPolicy(**resume["policy"]), concurrency=int(resume["concurrency"]), timestamps=KEEP,
        recorded_options=recorded, selection=selection, resume_of=int(run["id"]), token=str(resume["token"]),
    )


@dataclass(frozen=True, slots=True)
class Continued:
    """Where a resumed run starts: events already delivered, the next delivery and request numbers."""

    delivered: int
    first_seq: int
    first_request: int


def reopen(conn: sqlite3.Connection, run_id: int) -> Continued:
    """Mark the run as running again (this process) and forget its non-delivered outcomes,
    which the resumed part records afresh (the requests that carried them are kept)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM deliveries WHERE run_id = ? AND status != 'delivered'", (run_id,))
        delivered, top = conn.execute(
            "SELECT count(*), coalesce(max(seq), -1) FROM deliveries WHERE run_id = ?", (run_id,)
        ).fetchone()
        top_request = conn.execute("SELECT coalesce(max(seq), -1) FROM replay_requests WHERE run_id = ?", (run_id,)).fetchone()[0]
        conn.execute(
            "UPDATE runs SET status = 'running', finished_at = NULL, exit_code = NULL, pid = ? WHERE id = ?",
            (os.getpid(), run_id),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return Continued(int(delivered), int(top) + 1, int(top_request) + 1)


def load(db: Path, ref: str, write_key: str | None) -> tuple[Any, Mapping[str, Any]]:
    """The config that continues run ``ref`` (an id or ``last``) of capture ``db``, and the run.

    Raises:
        NotResumable: no such run, already complete, running elsewhere, or the write key differs.
    """
    from contextlib import closing

    from debugger.store.runs import get_run, resolve_run
    from debugger.store.reads import connect, migrate

    migrate(db)
    with closing(connect(db)) as conn:
        run_id = resolve_run(conn, ref)
        if run_id is None:
            raise NotResumable(f"no replay run {ref!r} in {db}; `segdbg diff run:last ...` and the TUI's d screen list them.")
        run = get_run(conn, run_id)
        assert run is not None
        run["pid"], run["resume"] = conn.execute("SELECT pid, resume FROM runs WHERE id = ?", (run_id,)).fetchone()
        pending = conn.execute(
            "SELECT count(*) FROM deliveries WHERE run_id = ? AND status != 'delivered'", (run_id,)
        ).fetchone()[0]
    if run["status"] == "delivered" and not pending:
        raise Complete(f"Run #{run_id} already delivered every event; nothing to resume.")
    resume = check(run, me=os.getpid())
    return config_for(db, run, resume, write_key), run


class Complete(Exception):
    """The run has nothing left to send."""
