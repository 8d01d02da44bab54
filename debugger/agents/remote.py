"""`segdbg mcp --url URL`: the tools a running server's debugger API can answer, asked through its own
small client (:mod:`debugger.server.client`, as the CLI's ``--url`` does).

search_events, get_event, wait_for, stats and schema read through the API (docs/ci.md); validate_payload
needs no capture; with ``allow_writes``, reset is the API's reset. The tools that read the file itself
(explain_match, check, diff, replay, pin, a stored payload) answer that they need ``--db``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from debugger.agents.results import summary
from debugger.agents.tools import PAGE_LIMIT, WAIT_LIMIT, ToolError, Tools, parse, parse_path
from debugger.core.query import language as q
from debugger.core.query.explain import values_at
from debugger.server.client import ApiError, Unreachable, base_url, call
from debugger.store.expect import Condition

#: Seconds a long-poll may take beyond its own timeout before the client gives up.
SLACK = 30.0


class RemoteTools(Tools):
    """The tools over a running segdbg server at ``url`` (its debugger API)."""

    def __init__(self, url: str, *, allow_writes: bool = False) -> None:
        super().__init__(Path(), allow_writes=allow_writes)
        self.url = base_url(url)

    def _capture(self, what: str, *, create: bool = False) -> Path:
        raise ToolError(
            f"{what} reads the capture file itself: start `segdbg mcp --db PATH` (this one asks {self.url})."
        )

    def _ask(self, path: str, params: dict[str, Any] | None = None, **options: Any) -> Any:
        try:
            return call(self.url, path, params, **options)
        except Unreachable as exc:
            raise ToolError(f"{exc}; is `segdbg serve` running there?") from None
        except ApiError as exc:
            raise ToolError(f"{self.url} answered {exc.status} {exc.code}: {exc.message}") from None

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
        """The API's ``events``: a page after ``cursor`` (or the newest ``limit``), as summaries."""
        parsed = parse(query)
        if newest and cursor > 0:
            raise ToolError("over --url, newest=true reads the newest events only (no cursor); page forward instead.")
        limit = max(1, min(limit, PAGE_LIMIT))
        paths = [parse_path(f) for f in fields or []]
        params = {
            "q": query,
            "after": max(0, cursor),
            "limit": limit,
            "all": "1" if include_problems else None,
            "newest": "1" if newest else None,
        }
        page = self._ask("events", params)
        rows = []
        for event in page["events"]:
            row = summary(event)
            if paths:
                row["fields"] = {f: values_at(event.get("stored"), p) for f, p in zip(fields or [], paths, strict=True)}
            rows.append(row)
        answer: dict[str, Any] = {"query": q.canonical(parsed), "total": None, "events": rows}
        if len(rows) == limit:
            answer["next_cursor"] = rows[0]["id"] if newest else rows[-1]["id"]
        return answer

    def get_event(self, event_id: int, *, part: str = "all") -> dict[str, Any]:
        """The API's ``events/{id}``: summary, findings and the payload."""
        record = self._ask(f"events/{int(event_id)}")
        answer: dict[str, Any] = {"summary": summary(record)}
        if part in ("all", "problems"):
            answer["findings"] = record.get("findings", [])
        payload = {
            key: record.get(source)
            for key, source, wanted in (
                ("raw", "raw", "raw"),
                ("stored", "stored", "stored"),
                ("http", "request", "http"),
            )
            if part in ("all", wanted) and record.get(source) is not None
        }
        if payload:
            answer["payload"] = payload
        return answer

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
        """The API's long-poll ``wait`` (it wakes on the server's commits)."""
        parse(query)
        try:
            condition = Condition.of(count=count, at_least=at_least, at_most=at_most, none=none)
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        wait = max(0.0, min(timeout, WAIT_LIMIT))
        params = {"q": query, "all": "1" if include_problems else None, "timeout": f"{wait:.3f}", **condition.params()}
        result: dict[str, Any] = self._ask("wait", params, timeout=wait + SLACK)
        result["events"] = [summary(e) for e in result.get("events", [])]
        result["closest"] = [
            {
                "event": summary(m["event"]),
                "failed": [{"term": t, "had": w} for t, w in zip(m["failed"], m.get("was") or [], strict=False)],
            }
            for m in result.get("closest", [])
        ]
        return result

    def stats(self) -> dict[str, Any]:
        """The API's ``stats``."""
        answer: dict[str, Any] = self._ask("stats")
        return answer

    def schema(self, query: str = "", *, sample: int = 1000) -> dict[str, Any]:
        """The API's ``schema``: the fields observed in the newest ``sample`` events."""
        parse(query)
        answer: dict[str, Any] = self._ask("schema", {"q": query, "sample": max(1, min(sample, 100_000))})
        return answer

    def reset(self, *, confirm: bool = False) -> dict[str, Any]:
        """The API's ``reset`` (needs writes and ``confirm``)."""
        self._writes("reset")
        if not confirm:
            raise ToolError("reset deletes every captured event; call it again with confirm=true.")
        answer: dict[str, Any] = self._ask("reset", post=True)
        return {"deleted": answer.get("deleted")}
