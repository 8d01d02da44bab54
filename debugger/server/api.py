"""The HTTP debugger API (docs/ci.md): read, search, wait for and reset the capture, for CI.

``GET /debugger/api/events?q=&after=&limit=&wait=&newest=&all=`` · ``GET /debugger/api/events/{id}`` ·
``GET /debugger/api/stats`` · ``GET /debugger/api/schema?q=&sample=`` ·
(each read also takes ``scope=NAME``: only that write key's events, docs/ci.md) ·
``GET /debugger/api/wait?q=&count=|at_least=|at_most=|between=2,5|none=1&timeout=&all=`` (long-poll) ·
``GET /debugger/api/sequence?step=&step=…&per=&within=&count=|at_least=|at_most=|between=&timeout=&all=`` (long-poll) ·
``POST /debugger/api/reset`` · ``POST /debugger/api/vacuum`` · ``POST /debugger/api/coverage`` (JSON content type).

Same-origin only: no CORS headers here (ingest routes have them; this API must not be
readable by other origins), any other method or path under ``/debugger/api/`` is answered
here rather than by the CORS-enabled ingest catch-all, a Host header that is not loopback or
the configured host is refused (DNS rebinding), and so is a cross-origin ``Origin``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.finding import summary_mark
from debugger.core.lint.linter import for_plan
from debugger.core.lint.plan import PlanError
from debugger.core.lint.plan import parse as parse_plan
from debugger.core.pretty.export import export_record, safe_json
from debugger.core.pretty.render import status_text
from debugger.core.query import language as q
from debugger.core.query.plan import view_statuses
from debugger.core.query.scope import ScopeError, check_name, scoped
from debugger.core.query.sequence import PER, Funnel, within_ms
from debugger.server.addresses import host_allowed, is_loopback
from debugger.server.keys import notifier_key, settings_key, vacuum_lock_key, writer_key
from debugger.server.notifier import Notifier
from debugger.store.capture import connect
from debugger.store.coverage import coverage
from debugger.store.expect import Condition, MatchCounter, Outcome, evidence
from debugger.store.maintenance import vacuum_capture
from debugger.store.reads import events_page, get_event, get_request, iter_events
from debugger.store.retention import Policy
from debugger.store.routing import ROUTE_LIMIT, routed_events
from debugger.store.scopes import scope_stats
from debugger.store.sequence import SequenceOutcome, SequenceReader
from debugger.store.stats import observed_schema, reset, stats

PREFIX = "/debugger/api"
MAX_LIMIT = 1000
MAX_WAIT = 300.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: Every other path under the API's prefix: 405 for a known path asked with another method, else 404.
CATCH_ALL = PREFIX + "/{tail:.*}"


def setup_routes(app: web.Application) -> None:
    """Add the debugger API; call before the ingest catch-all route so these paths win."""
    app.cleanup_ctx.append(_notifier_context)
    for path, handler in (
        ("/events", _events),
        ("/events/{id}", _event),
        ("/stats", _stats),
        ("/schema", _schema),
        ("/wait", _wait),
        ("/sequence", _sequence),
        ("/route", _route),
    ):
        app.router.add_get(PREFIX + path, _guarded(handler))
    app.router.add_post(PREFIX + "/reset", _guarded(_reset, json_body=True))
    app.router.add_post(PREFIX + "/vacuum", _guarded(_vacuum, json_body=True))
    app.router.add_post(PREFIX + "/coverage", _guarded(_coverage, json_body=True))
    app[vacuum_lock_key] = asyncio.Lock()
    app.router.add_route("*", CATCH_ALL, _guarded(_not_here))


async def _notifier_context(app: web.Application) -> AsyncIterator[None]:
    notifier = Notifier(asyncio.get_running_loop())
    app[notifier_key] = notifier
    app[writer_key].add_listener(notifier.fire_threadsafe)
    yield
    notifier.closed = True


#: On every API answer. ``nosniff`` + CORP ``same-origin`` make browsers drop the body of a
#: cross-origin ``<script src>``/``<img>``/no-cors fetch even if one got through (browsers too old
#: to send Sec-Fetch-Site); ``no-store`` keeps captured data out of caches.
API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=safe_json(data), content_type="application/json", headers=API_HEADERS)


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return _json({"success": False, "code": code, "message": message, **extra}, status)


def refusal(request: web.Request) -> web.Response | None:
    """Why a request may not read or change the capture (403), or None if it may.

    Refused: a peer that is not this machine (``serve --host 0.0.0.0 --allow-remote`` lets a
    phone send, not read), a Host that is not this machine (DNS rebinding), an ``Origin`` other than the
    server's own, and a ``Sec-Fetch-Site`` other than ``same-origin``/``none`` (a page on
    another origin, including ``same-site`` ones such as ``localhost:3000``).
    """
    if not is_loopback(request.remote or ""):
        return _error(
            403,
            "remote_peer",
            "The debugger API answers this machine only: other machines may send events, not read or reset them "
            "(on this machine, use http://127.0.0.1 and the port).",
        )
    if not host_allowed(request.headers.get("Host"), request.app[settings_key].host):
        return _error(
            403, "forbidden_host", "The debugger API answers only requests addressed to this machine (Host header)."
        )
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return _error(403, "cross_origin", "The debugger API is same-origin only.")
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return _error(403, "cross_origin", "The debugger API is same-origin only.")
    return None


def _guarded(handler: Handler, *, json_body: bool = False) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        refused = refusal(request)
        if refused is not None:
            return refused
        if json_body and request.content_type != "application/json":
            return _error(415, "json_required", "Send this POST with Content-Type: application/json.")
        try:
            return await handler(request)
        except _BadParam as exc:
            return _error(400, exc.code, exc.message, **exc.extra)

    return guarded


class _BadParam(Exception):
    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


def _query(request: web.Request) -> q.Query:
    try:
        return scoped(q.parse(request.query.get("q", "")), _scope(request))
    except q.QueryError as exc:
        raise _BadParam("invalid_query", exc.message, start=exc.start, end=exc.end) from exc


def _scope(request: web.Request) -> str | None:
    """``scope=NAME``: read only the events sent with that write key (docs/ci.md); given empty, refused."""
    if "scope" not in request.query:
        return None
    try:
        return check_name(request.query["scope"])
    except ScopeError as exc:
        raise _BadParam("invalid_parameter", f"`scope`: {exc}") from None


def _number(
    request: web.Request, name: str, default: float | None, low: float, high: float, *, integer: bool = True
) -> Any:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise _BadParam("invalid_parameter", f"`{name}` must be a number, not {raw[:40]!r}.") from None
    if not low <= value <= high or value != value:
        raise _BadParam("invalid_parameter", f"`{name}` must be between {low:g} and {high:g}.")
    return value


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes", "on")


def _db(request: web.Request) -> str:
    return str(request.app[settings_key].db)


async def _not_here(request: web.Request) -> web.StreamResponse:
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical.startswith(PREFIX) and resource.canonical != CATCH_ALL:
            match, methods = await resource.resolve(request)
            if match is None:
                allowed |= methods
    if allowed:
        use = ", ".join(sorted(allowed - {"HEAD"}))
        response = _error(405, "method_not_allowed", f"{request.method} is not allowed at {request.path}; use {use}.")
        response.headers["Allow"] = use
        return response
    return _error(
        404, "not_found", f"No debugger API at {request.method} {request.path}; see docs/ci.md for its routes."
    )


#: The lint every view applies, so the API, `segdbg events` and the TUI agree on an event's problems.
_LINTER = for_plan(None)


def _judged(event: dict[str, Any]) -> dict[str, Any]:
    """An export record with ``findings`` (stored problems, then lint) and ``mark``, the TUI's status cell."""
    findings = _LINTER.event(event)
    mark = summary_mark(findings)[0] if event["status"] == "ok" else ""
    return {**export_record(event), "findings": [f.to_dict() for f in findings], "mark": mark or status_text(event)}


async def _events(request: web.Request) -> web.StreamResponse:
    query = _query(request)
    after = _number(request, "after", 0, 0, 2**63 - 1)
    limit = _number(request, "limit", 100, 1, MAX_LIMIT)
    wait = _number(request, "wait", 0.0, 0, MAX_WAIT, integer=False)
    newest = _flag(request, "newest")
    statuses = view_statuses(query, _flag(request, "all"))
    now = datetime.now(UTC)
    deadline = time.monotonic() + wait

    def read() -> tuple[list[dict[str, Any]], int]:
        conn = connect(_db(request))
        try:
            events, top = events_page(
                conn, query=query, now=now, statuses=statuses, after_id=after, limit=limit, newest=newest
            )
            return [_judged(e) for e in events], top
        finally:
            conn.close()

    notifier = request.app[notifier_key]
    while True:
        changed = notifier.changed()
        rows, top = await asyncio.to_thread(read)
        remaining = deadline - time.monotonic()
        if rows or remaining <= 0:
            break
        try:
            await asyncio.wait_for(changed.wait(), remaining)
        except TimeoutError:
            pass
    # Fewer rows than asked: everything up to `top` was looked at, so the cursor may skip ahead.
    cursor = max(after, rows[-1]["id"] if rows else 0, top if len(rows) < limit and not newest else 0)
    return _json({"events": rows, "next_after": cursor})


async def _event(request: web.Request) -> web.StreamResponse:
    try:
        event_id = int(request.match_info["id"])
    except ValueError:
        return _error(404, "not_found", "Event ids are numbers.")

    def read() -> dict[str, Any] | None:
        conn = connect(_db(request))
        try:
            event = get_event(conn, event_id)
            if event is None:
                return None
            record = _judged(event)
            http = get_request(conn, record["request_id"]) if record["request_id"] is not None else None
            if http is not None:
                http.pop("body", None)  # only rejected requests keep one, and it can be 1 MB
            return {**record, "request": http}
        finally:
            conn.close()

    found = await asyncio.to_thread(read)
    return _json(found) if found is not None else _error(404, "not_found", f"No event #{event_id}.")


async def _route(request: web.Request) -> web.StreamResponse:
    """Which destinations of ``serve --routing FILE`` an event would reach, and why not (docs/routing.md):
    ``id=N`` for one event, else the newest ``limit`` events matching ``q``; the JSON `segdbg route` prints."""
    routing = request.app[settings_key].routing
    if routing is None:
        return _error(
            404, "no_routing", "This server has no routing file; start it with `segdbg serve --routing FILE`."
        )
    event_id = _number(request, "id", None, 1, 2**63 - 1)
    query = _query(request)
    limit = _number(request, "limit", ROUTE_LIMIT, 1, MAX_LIMIT)
    statuses = view_statuses(query, _flag(request, "all"))

    def read() -> list[dict[str, Any]]:
        conn = connect(_db(request))
        try:
            return routed_events(
                conn, routing, event_id=event_id, query=query, now=datetime.now(UTC), statuses=statuses, limit=limit
            )
        finally:
            conn.close()

    events = await asyncio.to_thread(read)
    if event_id is not None and not events:
        return _error(404, "not_found", f"No event #{event_id}.")
    return _json({"events": events})


async def _stats(request: web.Request) -> web.StreamResponse:
    name = _scope(request)

    def read() -> dict[str, Any]:
        conn = connect(_db(request))
        try:
            return stats(conn, now=datetime.now(UTC)) if name is None else scope_stats(conn, name)
        finally:
            conn.close()

    return _json(await asyncio.to_thread(read))


async def _schema(request: web.Request) -> web.StreamResponse:
    query = _query(request)
    sample = _number(request, "sample", 1000, 1, 100_000)

    def read() -> list[dict[str, Any]]:
        conn = connect(_db(request))
        try:
            statuses = view_statuses(query, _flag(request, "all"))
            return observed_schema(
                iter_events(conn, query=query, now=datetime.now(UTC), statuses=statuses, limit=sample, newest=True)
            )
        finally:
            conn.close()

    return _json({"sample": sample, "events": await asyncio.to_thread(read)})


async def _wait(request: web.Request) -> web.StreamResponse:
    query = _query(request)
    condition = _condition(request)
    timeout = _number(request, "timeout", 10.0, 0, MAX_WAIT, integer=False)
    statuses = view_statuses(query, _flag(request, "all"))
    now = datetime.now(UTC)
    counter = MatchCounter(query, statuses, now)
    conn = await asyncio.to_thread(connect, _db(request))
    started = time.monotonic()
    notifier = request.app[notifier_key]
    try:
        while True:
            changed = notifier.changed()
            found = await asyncio.to_thread(counter.update, conn)
            remaining = timeout - (time.monotonic() - started)
            if condition.holds(found) or condition.hopeless(found) or remaining <= 0:
                break
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass
        outcome = Outcome(condition.holds(found), found, condition, q.canonical(query), time.monotonic() - started)
        outcome = await asyncio.to_thread(evidence, conn, outcome, query, now=now, statuses=statuses)
    finally:
        await asyncio.to_thread(conn.close)
    return _json(outcome.to_json())


def _condition(request: web.Request) -> Condition:
    """``count=``, ``at_least=``, ``at_most=``, ``between=LOW,HIGH`` or ``none=1`` (one of them; default at least 1)."""
    counts = {name: _number(request, name, None, 0, 10**9) for name in ("count", "at_least", "at_most")}
    between = None
    raw = request.query.get("between")
    if raw:
        low, sep, high = raw.partition(",")
        if not sep or not low.strip().isdigit() or not high.strip().isdigit():
            raise _BadParam("invalid_parameter", f"`between` must be LOW,HIGH (e.g. 2,5), not {raw[:40]!r}.")
        between = (int(low), int(high))
    try:
        return Condition.of(
            count=counts["count"],
            at_least=counts["at_least"],
            at_most=counts["at_most"],
            between=between,
            none=_flag(request, "none"),
        )
    except ValueError as exc:
        raise _BadParam("invalid_parameter", str(exc)) from None


async def _sequence(request: web.Request) -> web.StreamResponse:
    """Long-poll until enough identities did the ``step`` queries in order (docs/ci.md, "Sequences")."""
    texts = request.query.getall("step", [])
    if len(texts) < 2:
        raise _BadParam("invalid_parameter", "Give at least two `step` parameters, one query each, in order.")
    steps = []
    for index, text in enumerate(texts):
        try:
            steps.append(q.parse(text))
        except q.QueryError as exc:
            raise _BadParam("invalid_query", f"step {index + 1}: {exc.message}", start=exc.start, end=exc.end) from exc
    per = request.query.get("per") or "user"
    if per not in PER:
        raise _BadParam("invalid_parameter", f"`per` must be one of {', '.join(PER)}.")
    within = request.query.get("within") or None
    try:
        window = within_ms(within) if within is not None else None
    except ValueError as exc:
        raise _BadParam("invalid_parameter", f"`within`: {exc}") from None
    condition = _condition(request)
    timeout = _number(request, "timeout", 10.0, 0, MAX_WAIT, integer=False)
    show_all = _flag(request, "all")
    reader = SequenceReader(steps, [view_statuses(s, show_all) for s in steps], per, window, datetime.now(UTC))
    conn = await asyncio.to_thread(connect, _db(request))
    started = time.monotonic()
    notifier = request.app[notifier_key]
    funnel = Funnel(len(steps))
    try:
        while True:
            changed = notifier.changed()
            funnel = await asyncio.to_thread(reader.update, conn)
            done = len(funnel.completed)
            remaining = timeout - (time.monotonic() - started)
            if condition.holds(done) or condition.hopeless(done) or remaining <= 0:
                break
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass
    finally:
        await asyncio.to_thread(conn.close)
    ok = condition.holds(len(funnel.completed))
    outcome = SequenceOutcome(ok, condition, texts, per, within, time.monotonic() - started, funnel)
    return _json(outcome.to_json())


async def _reset(request: web.Request) -> web.StreamResponse:
    deleted = await asyncio.wrap_future(request.app[writer_key].call(reset))
    return _json({"success": True, "deleted": deleted})


async def _vacuum(request: web.Request) -> web.StreamResponse:
    """Retention now, the index rebuilt, ``VACUUM``: each step on the writer thread, so ingest
    interleaves between steps and only waits (never refused) during ``VACUUM`` itself.

    Body: ``{"max_events": N, "max_age_s": S, "reindex": bool}``, all optional; without a
    limit the server's own ``--max-events``/``--max-age`` apply.
    """
    try:
        body = await request.json()
    except ValueError:
        raise _BadParam("invalid_json", "The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise _BadParam("invalid_json", "The body must be a JSON object.")
    max_events, max_age, reindex = body.get("max_events"), body.get("max_age_s"), body.get("reindex", False)
    if max_events is not None and (not isinstance(max_events, int) or isinstance(max_events, bool) or max_events < 1):
        raise _BadParam("invalid_parameter", "max_events must be a whole number ≥ 1.")
    if max_age is not None and (
        not isinstance(max_age, int | float) or isinstance(max_age, bool) or not 0 < max_age < 1e11
    ):
        raise _BadParam("invalid_parameter", "max_age_s must be a number of seconds > 0.")
    policy = Policy(max_events, timedelta(seconds=max_age) if max_age is not None else None)
    if not policy.active:
        policy = request.app[settings_key].retention
    writer = request.app[writer_key]

    def run(fn: Callable[[Any], Any]) -> Any:
        return writer.call(fn, transaction=False).result()

    async with request.app[vacuum_lock_key]:
        report = await asyncio.to_thread(
            vacuum_capture, run, request.app[settings_key].db, policy, datetime.now(UTC), reindex=bool(reindex)
        )
    return _json({"success": True, "retention": policy.describe(), **report.to_json()})


async def _coverage(request: web.Request) -> web.StreamResponse:
    """Plan coverage (docs/tracking-plans.md, "Coverage"): the server has no plan, so the client sends it.

    Body: ``{"plan": <the plan document, any format check --plan reads, as JSON>, "q": "QUERY",
    "min_coverage": PERCENT}`` (``q`` and ``min_coverage`` optional). Answers the report of
    ``check --coverage --format json`` plus ``ok`` (false below ``min_coverage``).
    """
    try:
        body = await request.json()
    except ValueError:
        raise _BadParam("invalid_json", "The body must be a JSON object.") from None
    if not isinstance(body, dict) or not isinstance(body.get("plan"), dict | list):
        raise _BadParam("invalid_plan", 'Send {"plan": <the tracking plan as JSON>, "q": "optional query"}.')
    text = body.get("q", "")
    if not isinstance(text, str):
        raise _BadParam("invalid_query", "`q` must be a string.")
    try:
        query = q.parse(text)
    except q.QueryError as exc:
        raise _BadParam("invalid_query", exc.message, start=exc.start, end=exc.end) from exc
    minimum = body.get("min_coverage")
    if minimum is not None and (
        isinstance(minimum, bool) or not isinstance(minimum, int | float) or not 0 <= minimum <= 100
    ):
        raise _BadParam("invalid_parameter", "min_coverage must be a number from 0 to 100.")

    def read() -> dict[str, Any]:
        plan = CompiledPlan(parse_plan(body["plan"], "plan"))  # compiling a big plan takes ~0.2 s: off the loop
        conn = connect(_db(request))
        try:
            return coverage(conn, plan, query=query if query.terms else None).to_json()
        finally:
            conn.close()

    try:
        report = await asyncio.to_thread(read)
    except PlanError as exc:
        raise _BadParam("invalid_plan", str(exc)) from None
    return _json({"ok": minimum is None or report["coverage"] >= minimum, **report})
