"""The MCP tools as plain functions over one capture file: each a thin call of the store and core
functions the CLI commands call (`events`, `expect`, `check`, `schema`, `stats`, `diff`, `replay
--dry-run`, `pin`, `reset`, the TUI's paste). No MCP here, so each is testable on its own;
:mod:`debugger.agents.server` registers them. Every method answers a dict; a bad argument is a
:class:`ToolError` whose message says what to change.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from debugger.agents.results import SUMMARY_CHARS, summary
from debugger.core.diff import NOISE, Shape, compare_runs, compare_shapes
from debugger.core.inputs import paste
from debugger.core.lint.codes import consequence
from debugger.core.lint.finding import CATEGORIES
from debugger.core.lint.inventory import Inventory
from debugger.core.lint.linter import LintConfig, Linter, for_plan
from debugger.core.lint.plan import PlanError
from debugger.core.lint.sequence import SequenceLint
from debugger.core.lint.tally import RuleTally, default_categories, ordered, tally
from debugger.core.pretty.export import export_record
from debugger.core.pretty.render import inert
from debugger.core.query import language as q
from debugger.core.query.explain import values_at
from debugger.core.query.plan import view_statuses
from debugger.core.replay.planning import ReplayOptions
from debugger.core.replay.retry import RetryPolicy
from debugger.core.replay.selection import for_query, replay_target
from debugger.replay.config import RunConfig
from debugger.replay.run import DryRunTally, RunOutcome, dry_run_lines, execute, prepare
from debugger.store.capture import StoreError, connect, migrate, reader
from debugger.store.expect import Condition, miss_record, wait_on_file
from debugger.store.planfile import load
from debugger.store.reads import count_events, get_event, get_request, iter_events, judge_event, source_labels
from debugger.store.retention import set_pins
from debugger.store.runs import has_runs_table, iter_deliveries, resolve_run
from debugger.store.stats import reset_file, stats
from debugger.store.writer import EventWriter

#: The most events one search page holds, and the most a total is counted up to.
PAGE_LIMIT, COUNT_CAP = 200, 100_000
#: The longest wait_for may block, in seconds (a client's request timeout is often a minute or two).
WAIT_LIMIT = 120.0
#: How many of the newest events `check` and `schema` read by default (the whole of a huge capture takes minutes).
DEFAULT_SCAN = 20_000
#: Dry-run lines shown (the counts cover every request).
DRY_RUN_LINES = 20


class ToolError(Exception):
    """A tool cannot answer: bad argument, no such event, writes not allowed, unreadable capture."""


def parse(text: str | None) -> q.Query:
    """The filter language, or a :class:`ToolError` pointing at the offending term."""
    try:
        return q.parse(text or "")
    except q.QueryError as exc:
        shown = inert(text or "", 200)
        raise ToolError(f"bad query: {exc.message} (characters {exc.start}-{exc.end} of {shown!r})") from None


class Tools:
    """The tools over the capture at ``db``; ``allow_writes`` lets them store, pin, reset and replay."""

    def __init__(self, db: Path, *, allow_writes: bool = False) -> None:
        self.db = db
        self.allow_writes = allow_writes
        self._writer: EventWriter | None = None

    def close(self) -> None:
        """Drain and close the writer a stored paste started."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _capture(self, what: str, *, create: bool = False) -> Path:
        """The capture file ``what`` (a tool's name) works on; it must exist unless ``create``."""
        if not create and not self.db.exists():
            raise ToolError(f"{self.db}: no capture yet; start `segdbg serve` (or send events) first.")
        return self.db

    @contextmanager
    def _read(self, what: str) -> Iterator[sqlite3.Connection]:
        path = self._capture(what)
        try:
            with reader(path) as conn:
                yield conn
        except StoreError as exc:
            raise ToolError(str(exc)) from None

    def _writes(self, what: str) -> None:
        if not self.allow_writes:
            raise ToolError(
                f"{what} changes the capture; the server was started read-only (`segdbg mcp --allow-writes`)."
            )

    # -- reading --------------------------------------------------------------------------

    def search_events(
        self,
        query: str = "",
        *,
        limit: int = 20,
        cursor: int = 0,
        newest: bool = False,
        include_problems: bool = False,
        fields: list[str] | None = None,
    ) -> dict[str, Any]:
        """The events `segdbg events QUERY` lists (oldest first, or the newest ``limit``), as summaries."""
        parsed = parse(query)
        statuses = view_statuses(parsed, include_problems)
        limit = max(1, min(limit, PAGE_LIMIT))
        paths = [parse_path(f) for f in fields or []]
        now = datetime.now(UTC)
        with self._read("search_events") as conn:
            found = list(
                iter_events(
                    conn,
                    query=parsed,
                    now=now,
                    statuses=statuses,
                    after_id=0 if newest else max(0, cursor),
                    before_id=cursor if newest and cursor > 0 else None,
                    limit=limit,
                    newest=newest,
                )
            )
            total = count_events(conn, query=parsed, now=now, statuses=statuses, cap=COUNT_CAP)
        rows = []
        for event in found:
            row = summary(event)
            if paths:
                row["fields"] = {
                    name: values_at(event.get("stored"), path) for name, path in zip(fields or [], paths, strict=True)
                }
            rows.append(row)
        answer: dict[str, Any] = {
            "query": q.canonical(parsed),
            "total": total,
            "total_capped": total >= COUNT_CAP,
            "events": rows,
        }
        if len(found) == limit:
            answer["next_cursor"] = found[0]["id"] if newest else found[-1]["id"]
        if statuses is not None:
            answer["statuses"] = list(statuses)
        return answer

    def get_event(self, event_id: int, *, part: str = "all") -> dict[str, Any]:
        """One event: its columns, findings, the message as received and as stored, and its HTTP request."""
        with self._read("get_event") as conn:
            event = get_event(conn, event_id)
            if event is None:
                raise ToolError(f"no event #{event_id} (never stored, or deleted by retention or reset).")
            request = get_request(conn, event["request_id"]) if event["request_id"] is not None else None
        record = export_record(event)
        answer: dict[str, Any] = {"summary": summary(event)}
        if part in ("all", "problems"):
            answer["findings"] = [f.to_dict() for f in for_plan(None).event(event)]
        payload: dict[str, Any] = {}
        if part in ("all", "raw"):
            payload["raw"] = record["raw"]
        if part in ("all", "stored"):
            payload["stored"] = record["stored"]
        if part in ("all", "http") and request is not None:
            request.pop("body", None)  # only rejected requests keep one, and it can be 1 MB
            payload["http"] = request
        if payload:
            answer["payload"] = payload
        return answer

    def explain_match(self, query: str, event_id: int, *, include_problems: bool = False) -> dict[str, Any]:
        """Whether event ``event_id`` matches ``query`` and, term by term, which terms it fails and what it had there."""
        parsed = parse(query)
        statuses = view_statuses(parsed, include_problems)
        with self._read("explain_match") as conn:
            judged = judge_event(conn, parsed, event_id, now=datetime.now(UTC), statuses=statuses)
        if judged is None:
            raise ToolError(f"no event #{event_id} (never stored, or deleted by retention or reset).")
        miss = miss_record(export_record(judged.event), judged.failed, parsed)
        return {
            "matches": not judged.failed,
            "query": q.canonical(parsed),
            "event": summary(judged.event),
            "terms_passed": judged.matched,
            "failed": [{"term": t, "had": w} for t, w in zip(miss["failed"], miss["was"], strict=True)],
        }

    def wait_for(
        self,
        query: str,
        *,
        count: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
        none: bool = False,
        timeout: float = 10.0,
        include_problems: bool = False,
    ) -> dict[str, Any]:
        """Block until the capture holds the events expected (`segdbg expect`), waking on each commit."""
        parsed = parse(query)
        try:
            condition = Condition.of(count=count, at_least=at_least, at_most=at_most, none=none)
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        path = self._capture("wait_for")
        statuses = view_statuses(parsed, include_problems)
        try:
            outcome = wait_on_file(
                str(path),
                parsed,
                q.canonical(parsed),
                condition,
                timeout=max(0.0, min(timeout, WAIT_LIMIT)),
                statuses=statuses,
                now=datetime.now(UTC),
            )
        except StoreError as exc:
            raise ToolError(str(exc)) from None
        result = outcome.to_json()
        result["events"] = [summary(e) for e in result["events"]]
        result["closest"] = [
            {
                "event": summary(m["event"]),
                "failed": [{"term": t, "had": w} for t, w in zip(m["failed"], m["was"], strict=True)],
            }
            for m in result["closest"]
        ]
        return result

    def stats(self) -> dict[str, Any]:
        """`segdbg stats`: counts by type, status, source and library, the last minute's rate, the index lag."""
        with self._read("stats") as conn:
            return stats(conn, now=datetime.now(UTC))

    def schema(self, query: str = "", *, sample: int = DEFAULT_SCAN) -> dict[str, Any]:
        """`segdbg schema`'s inventory (kinds of events and their field paths, types, drift) of the newest ``sample``."""
        parsed = parse(query) if query else None
        inventory = Inventory()
        with self._read("schema") as conn:
            names = source_labels(conn)
            for row in iter_events(conn, query=parsed, now=datetime.now(UTC), limit=max(1, sample), newest=True):
                inventory.add(row)
        return {"read": inventory.total, "sample": sample, **inventory.to_json(names)}

    def check(self, query: str = "", *, plan: str | None = None, scan: int = DEFAULT_SCAN) -> dict[str, Any]:
        """`segdbg check`'s summary by rule (problems, lint and, with ``plan``, plan violations) of the newest ``scan``."""
        parsed = parse(query) if query else None
        compiled = None
        if plan is not None:
            try:
                compiled = load(Path(plan))
            except PlanError as exc:
                raise ToolError(str(exc)) from None
            except OSError as exc:
                raise ToolError(f"{inert(plan)}: cannot read ({exc.strerror or exc}).") from None
        naming = compiled.plan.naming if compiled is not None else {}
        config = LintConfig(
            event_case=naming.get("events", "title"),
            key_case=naming.get("keys", "snake"),
            ignore=frozenset(set(CATEGORIES) - default_categories(compiled is not None)),
        )
        linter = Linter(config, compiled)
        across = SequenceLint(config.ignore)
        by_rule: dict[str, RuleTally] = {}
        total = flagged = 0
        with self._read("check") as conn:
            for row in iter_events(conn, query=parsed, now=datetime.now(UTC), limit=max(1, scan), newest=True):
                total += 1
                findings = linter.event(row) + across.event(row)
                if findings:
                    flagged += 1
                    tally(by_rule, row, findings)
        rules = [
            {
                "code": r.code,
                "severity": r.severity,
                "category": r.category,
                "consequence": consequence(r.code),
                "findings": r.findings,
                "events": len(r.events),
                "message": r.message,
                "examples": [
                    {"event": inert(label, SUMMARY_CHARS), "path": inert(path, SUMMARY_CHARS), "ids": ids}
                    for (label, path), ids in r.examples.items()
                ],
            }
            for r in ordered(by_rule.values())
        ]
        return {"checked": total, "scan": scan, "flagged": flagged, "plan": plan, "rules": rules}

    def diff(
        self,
        a: str,
        b: str,
        *,
        ignore: list[str] | None = None,
        include_problems: bool = False,
        scan: int = DEFAULT_SCAN,
    ) -> dict[str, Any]:
        """`segdbg diff`: two replay runs (``run:ID``, ``run:last``, ``run:prev``), or two QUERY slices of the
        capture (the newest ``scan`` events of each)."""
        if a.startswith("run:") != b.startswith("run:"):
            raise ToolError("compare two runs (run:ID, run:last, run:prev) or two queries, not one of each.")
        with self._read("diff") as conn:
            if a.startswith("run:"):
                if not has_runs_table(conn):
                    raise ToolError("this capture has no replay runs yet.")
                ids = []
                for spec in (a, b):
                    run_id = resolve_run(conn, spec.removeprefix("run:"))
                    if run_id is None:
                        raise ToolError(f"{inert(spec)}: no such run.")
                    ids.append(run_id)
                result: Any = compare_runs(iter_deliveries(conn, ids[0]), iter_deliveries(conn, ids[1]))
            else:
                shapes = []
                for text in (a, b):
                    parsed = parse(text)
                    shape = Shape(ignore=NOISE | frozenset(ignore or ()))
                    statuses = view_statuses(parsed, include_problems)
                    newest = iter_events(
                        conn, query=parsed, now=datetime.now(UTC), statuses=statuses, limit=max(1, scan), newest=True
                    )
                    for event in newest:
                        if isinstance(event["stored"], dict) and event["stored"]:
                            shape.add(event["stored"])
                    shapes.append(shape)
                result = compare_shapes(shapes[0], shapes[1])
        answer = {"differences": result.differences, **dataclasses.asdict(result)}
        return answer if a.startswith("run:") else {"scan": scan, **answer}

    # -- replay and writes --------------------------------------------------------------------

    def _replay_config(self, to: str, query: str, batch: bool) -> RunConfig:
        try:
            target = replay_target(to)
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        text = query or None
        return RunConfig(
            db=self._capture("replay"),
            target=target,
            query=text,
            options=ReplayOptions(batch=batch),
            policy=RetryPolicy(),
            concurrency=1,
            timestamps="keep",
            recorded_options={"to": target, "via": "mcp"},
            selection=for_query(parse(text) if text else None, datetime.now(UTC)),
        )

    def replay_dry_run(self, to: str, query: str = "", *, batch: bool = True) -> dict[str, Any]:
        """`segdbg replay --dry-run`: the requests a replay would send (the first few), and counts; nothing is sent."""
        config = self._replay_config(to, query, batch)
        now = datetime.now(UTC)
        try:
            options, count = prepare(config, now)
            lines: list[dict[str, Any]] = []
            tally = DryRunTally()
            with closing(connect(config.db)) as conn:
                for line in dry_run_lines(conn, config, options, now):
                    tally.add(line)
                    if len(lines) < DRY_RUN_LINES:
                        lines.append(line)
        except StoreError as exc:
            raise ToolError(str(exc)) from None
        return {
            "dry_run": True,
            "target": config.target,
            "selected": count,
            "would_send": tally.events,
            "requests": tally.requests,
            "not_sent": tally.skipped,
            "first_requests": {"payload": lines},
        }

    async def replay(self, to: str, query: str = "", *, batch: bool = True) -> dict[str, Any]:
        """`segdbg replay`: send the selection to ``to`` and record the run (needs writes)."""
        self._writes("replay")
        config = self._replay_config(to, query, batch)
        try:
            outcome: RunOutcome = await execute(config)
        except StoreError as exc:
            raise ToolError(str(exc)) from None
        return {
            "dry_run": False,
            "run": outcome.run_id,
            "status": outcome.status,
            "summary": outcome.summary,
            "unreachable": outcome.unreachable,
            "record_error": outcome.record_error,
        }

    def validate_payload(self, text: str, *, store: bool = False) -> dict[str, Any]:
        """The TUI's paste: JSON (message, batch, NDJSON), a curl command or ``analytics.track(...)`` lines,
        validated as the server would; stored only when ``store`` (and writes are allowed)."""
        if store:
            self._writes("storing a payload")
        try:
            pasted = paste.handle(text, received_at=datetime.now(UTC), new_id=lambda: str(uuid.uuid4()))
        except paste.PasteError as exc:
            return {"valid": False, "stored": False, "error": inert(exc.message, 2_000)}
        events = []
        for outcome in pasted.outcomes:
            for event in outcome.events:
                findings: list[dict[str, str | None]] = [
                    {"code": p.code, "path": p.path, "message": p.message, "severity": p.severity}
                    for p in event.problems
                ]
                if event.status == "ok":
                    findings += [f.to_dict() for f in for_plan(None).lint(event.stored)]
                events.append(
                    {
                        "type": inert(event.type or "?", SUMMARY_CHARS),
                        "name": inert(event.name or "", SUMMARY_CHARS),
                        "status": event.status,
                        "problems": findings,
                    }
                )
        answer: dict[str, Any] = {
            "form": pasted.form,
            "valid": all(e["status"] == "ok" for e in events),
            "events": events,
            "notes": list(pasted.notes),
            "stored": False,
        }
        if store:
            if self._writer is None:
                self._writer = EventWriter(self._capture("validate_payload", create=True)).start()
            ids: list[int] = []
            for outcome in pasted.outcomes:
                ids += self._writer.submit(outcome.record, outcome.events).result().event_ids
            answer["stored"], answer["ids"] = True, ids
        return answer

    def pin(self, ids: list[int], *, on: bool = True) -> dict[str, Any]:
        """`segdbg pin`/`unpin`: retention never deletes a pinned event."""
        self._writes("pinning")
        path = self._capture("pin")
        try:
            migrate(path)
            with closing(connect(path)) as conn:
                found, missing = set_pins(conn, list(ids), on)
        except StoreError as exc:
            raise ToolError(str(exc)) from None
        return {"pinned" if on else "unpinned": found, "missing": missing}

    def reset(self, *, confirm: bool = False) -> dict[str, Any]:
        """`segdbg reset`: delete every captured event and request (needs writes and ``confirm``)."""
        self._writes("reset")
        if not confirm:
            raise ToolError("reset deletes every captured event; call it again with confirm=true.")
        path = self._capture("reset")
        try:
            return {"deleted": reset_file(path)}
        except StoreError as exc:
            raise ToolError(str(exc)) from None


def parse_path(text: str) -> tuple[str, ...]:
    """A JSON path for ``fields`` (``properties.plan``), read as the filter language reads one."""
    try:
        term = q.parse(f"has:{text}").terms[0]
    except (q.QueryError, IndexError):
        raise ToolError(f"bad field path {inert(text, 80)!r}; e.g. properties.plan or context.library.name") from None
    paths = getattr(term, "paths", None)
    if not paths:
        raise ToolError(f"bad field path {inert(text, 80)!r}")
    return tuple(paths[0])
