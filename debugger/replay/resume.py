"""`segdbg replay --resume`: continue a run that was interrupted or killed, without re-sending what
was recorded as delivered.

A run records, when it starts, everything needed to continue it (``runs.resume``, written by
:func:`debugger.replay.config.spec`); the events stored later are not part of it. The write key
itself is not stored, only a fingerprint: a resumed run asks for ``--write-key`` again and checks it.

**At least once.** Deliveries are recorded in groups shortly after the target answers. An
event the target acknowledged just before a kill, whose delivery was not yet recorded, is
sent again on resume with the same messageId: Segment (and segdbg) de-duplicate it. Nothing
recorded as delivered is ever sent again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from debugger.core.replay.planning import KEEP, ReplayOptions
from debugger.core.replay.retry import RetryPolicy
from debugger.replay.config import VERSION, RunConfig, fingerprint, selection_from_spec
from debugger.store.capture import connect, migrate
from debugger.store.runs import FORWARD, REPLAY, get_run, resolve_run, resume_record
from debugger.store.servers import pid_alive


class NotResumable(Exception):
    """The run cannot be continued; the message says why and what to do."""


def check(run: Mapping[str, Any], *, me: int, alive: Any = None) -> dict[str, Any]:
    """The run's resume spec, or :class:`NotResumable` with the reason.

    A run still ``running`` whose process exists is being sent right now: resuming it too
    would send its events twice.
    """
    is_alive = alive or pid_alive
    if not run.get("resume"):
        raise NotResumable(
            f"run #{run['id']} was recorded without what resuming needs (an older segdbg); start a new replay."
        )
    pid = run.get("pid")
    if run["status"] == "running" and pid and pid != me and is_alive(pid):
        raise NotResumable(f"run #{run['id']} is still being sent by process {pid}; stop it (Ctrl-C) or wait for it.")
    loaded = orjson.loads(run["resume"])
    if loaded.get("version") != VERSION:
        raise NotResumable(f"run #{run['id']} was recorded by another segdbg version; start a new replay.")
    return dict(loaded)


def config_for(db: Path, run: Mapping[str, Any], resume: Mapping[str, Any], write_key: str | None) -> RunConfig:
    """The :class:`~debugger.replay.config.RunConfig` that continues ``run``.

    Raises:
        NotResumable: the run used a write key and none (or another) was given.
    """
    wanted = resume.get("write_key")
    if wanted is not None and write_key is None:
        raise NotResumable(
            f"run #{run['id']} sent every event with --write-key; give the same --write-key to resume it."
        )
    if wanted is not None and fingerprint(write_key) != wanted:
        raise NotResumable(f"this is not the --write-key run #{run['id']} was sent with.")
    if wanted is None and write_key is not None:
        raise NotResumable(f"run #{run['id']} sent each event with its own write key; resume it without --write-key.")
    options = dict(resume["options"])
    shift = resume.get("shift_s")
    replay_options = ReplayOptions(
        **options, write_key=write_key, shift_by=timedelta(seconds=shift) if shift is not None else None
    )
    selection = selection_from_spec(
        resume["selection"], int(run["id"])
    )  # bounded to the events stored when the run started
    recorded = dict(run.get("options") or {})
    return RunConfig(
        db=db,
        target=run["target"],
        query=run.get("query"),
        options=replay_options,
        policy=RetryPolicy(**resume["policy"]),
        concurrency=int(resume["concurrency"]),
        timestamps=KEEP,
        recorded_options=recorded,
        selection=selection,
        resume_of=int(run["id"]),
        token=str(resume["token"]),
    )


def load(db: Path, ref: str, write_key: str | None) -> tuple[RunConfig, Mapping[str, Any]]:
    """The config that continues run ``ref`` (an id or ``last``) of capture ``db``, and the run.

    Raises:
        NotResumable: no such run, already complete, running elsewhere, or the write key differs.
    """
    migrate(db)
    with closing(connect(db)) as conn:
        run_id = resolve_run(conn, ref, REPLAY)
        if run_id is None:
            raise NotResumable(
                f"no replay run {ref!r} in {db}; `segdbg diff run:last ...` and the TUI's d screen list them."
            )
        run = get_run(conn, run_id)
        assert run is not None
        run["pid"], run["resume"], pending = resume_record(conn, run_id)
    if run.get("kind") == FORWARD:
        raise NotResumable(
            f"run #{run_id} is what `segdbg serve --forward` sent upstream, not a replay; to resend its events, "
            f"`segdbg replay 'id:...' --to {run['target']}` (docs/forward.md)."
        )
    if run["status"] == "delivered" and not pending:
        raise Complete(f"Run #{run_id} already delivered every event; nothing to resume.")
    resume = check(run, me=os.getpid())
    return config_for(db, run, resume, write_key), run


class Complete(Exception):
    """The run has nothing left to send."""
