"""The Deliveries screen (``d``): replay runs and `serve --forward` runs (kind ``forward``), their metrics, and every event not delivered with
Segment's three Event Delivery views — You Sent, Request, Response.

Reads the capture's ``runs``/``deliveries``/``replay_requests`` tables (:mod:`debugger.store.runs`)
in thread workers, each with its own short-lived connection, and posts what it read back to
the screen; handlers only fill widgets. Payload text is shown inert (:func:`debugger.core.pretty.render.inert`)
and never as markup (``markup=False``, :class:`~rich.text.Text` cells).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

import orjson
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from debugger.core.pretty.render import inert
from debugger.store import runs
from debugger.store.capture import connect

FAILURES_SHOWN = 1000
RUN_COLUMNS = (
    ("#", 4),
    ("kind", 7),
    ("started (UTC)", 19),
    ("target", 30),
    ("query", 20),
    ("status", 11),
    ("events", 8),
    ("not delivered", 13),
    ("p50", 9),
    ("p99", 9),
)
FAILURE_COLUMNS = (("#", 6), ("event", 8), ("type", 8), ("name", 30), ("status", 11), ("HTTP", 5), ("reason", 48))
EMPTY = (
    "No replay or forward runs in this capture yet. Run `segdbg replay --to URL`, or `segdbg serve --forward URL`,"
    " and they appear here."
)


def _block(text: str) -> str:
    """Multi-line payload text made inert line by line (newlines kept)."""
    return "\n".join(inert(line, 4000) for line in text.splitlines())


def _cells(values: tuple[str, ...], columns: tuple[tuple[str, int], ...]) -> list[Text]:
    """Table cells: inert, cut to their column, never markup."""
    return [Text(inert(value, width)) for value, (_, width) in zip(values, columns, strict=True)]


def _pretty(body: str | None) -> str:
    if body is None:
        return "(not kept)"
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return body


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _ms(value: object) -> str:
    return f"{value:.1f} ms" if isinstance(value, int | float) else "–"


def run_metrics(run: Mapping[str, Any]) -> str:
    """The metrics of one run, as shown above its failures."""
    total = run.get("total") or 0
    not_delivered = (run.get("failed") or 0) + (run.get("not_sent") or 0)
    lines = [
        f"Run #{run['id']} · {run.get('kind') or 'replay'} · {run['status']} · {run['target']}"
        + (f" · query: {run['query']}" if run.get("query") else ""),
        (
            f"{total:,} events: {run.get('delivered') or 0:,} delivered, {not_delivered:,} not delivered "
            f"({run.get('failed') or 0:,} failed, {run.get('not_sent') or 0:,} not sent) · "
            f"{run.get('retried') or 0:,} retried · {_count(run.get('requests') or 0, 'request')} · "
            f"{run.get('duration_s') or 0:.2f} s"
        ),
        f"latency p50 {_ms(run.get('p50_ms'))} · p95 {_ms(run.get('p95_ms'))} · p99 {_ms(run.get('p99_ms'))}"
        + (f" · pacing drift p99 {_ms(run.get('drift_p99_ms'))}" if run.get("drift_p99_ms") is not None else ""),
    ]
    errors = run.get("errors") or {}
    if errors:
        lines.append("errors: " + " · ".join(f"{count:,} {reason}" for reason, count in errors.items()))
    return _block("\n".join(lines))


def sent_view(views: Mapping[str, Any]) -> str:
    """You Sent: the message as it was sent."""
    sent = views.get("you_sent")
    return _block(orjson.dumps(sent, option=orjson.OPT_INDENT_2).decode() if sent is not None else "(not kept)")


def request_view(views: Mapping[str, Any]) -> str:
    """Request: method, URL, headers, every attempt, and the body of the last one."""
    request = views.get("request")
    if not request:
        return "No request was made: the event was not sent."
    lines = [f"{request['method']} {request['url']}"]
    lines += [f"{name}: {value}" for name, value in request.get("headers") or []]
    attempts = request.get("attempts") or []
    if attempts:
        lines.append("")
        for attempt in attempts:
            outcome = (
                f"HTTP {attempt['status']}"
                if attempt.get("status") is not None
                else (attempt.get("error") or "no answer")
            )
            wait = f", then waited {attempt['wait_s']} s" if attempt.get("wait_s") else ""
            lines.append(f"attempt {attempt.get('attempt')}: {outcome} in {_ms(attempt.get('latency_ms'))}{wait}")
    lines += ["", _pretty(request.get("body"))]
    return _block("\n".join(lines))


def response_view(views: Mapping[str, Any]) -> str:
    """Response: status, headers and body as received."""
    response = views.get("response")
    if not response:
        return "No response: the event was not sent."
    if response.get("status") is None:
        request = views.get("request") or {}
        last = (request.get("attempts") or [{}])[-1]
        return _block(f"No answer: {last.get('error') or 'the target could not be reached'}")
    lines = [f"HTTP {response['status']}"]
    lines += [f"{name}: {value}" for name, value in response.get("headers") or []]
    lines += ["", _pretty(response.get("body"))]
    return _block("\n".join(lines))


class DeliveriesScreen(Screen[None]):
    """Replay runs (newest first), the selected run's metrics and failures, and the three views."""

    DEFAULT_CSS = """
    DeliveriesScreen #runs { height: 9; }
    DeliveriesScreen #run-metrics { height: auto; padding: 0 1; background: $boost; }
    DeliveriesScreen #failures { height: 1fr; min-height: 5; }
    DeliveriesScreen #views { height: 2fr; }
    DeliveriesScreen .-empty #runs, DeliveriesScreen .-empty #failures { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("r", "refresh", "Refresh"),
        Binding("1", "view('view-sent')", "Views", key_display="1-3"),
        Binding("2", "view('view-request')", "Request", show=False),
        Binding("3", "view('view-response')", "Response", show=False),
    ]

    @dataclass
    class RunsLoaded(Message):
        """The runs were read (newest first)."""

        runs: list[dict[str, Any]]

    @dataclass
    class FailuresLoaded(Message):
        """A run's metrics and the deliveries it did not deliver were read."""

        run: dict[str, Any]
        failures: list[dict[str, Any]]

    @dataclass
    class ViewsLoaded(Message):
        """The You Sent / Request / Response views of one failure were read."""

        views: dict[str, Any]

    def __init__(self, db: Path) -> None:
        super().__init__()
        self.db = Path(db)
        self.runs: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.run_id: int | None = None

    def compose(self) -> ComposeResult:
        """Runs, metrics, failures, views."""
        with Vertical(id="deliveries"):
            yield Static(f"Deliveries · {inert(self.db.name)}", id="deliveries-title", markup=False)
            yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
            yield Static("", id="run-metrics", markup=False)
            yield DataTable(id="failures", cursor_type="row")
            with TabbedContent(id="views", initial="view-sent"):
                for pane_id, title in (
                    ("view-sent", "You Sent"),
                    ("view-request", "Request"),
                    ("view-response", "Response"),
                ):
                    with TabPane(title, id=pane_id), VerticalScroll():
                        yield Static("", id=f"{pane_id}-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Set up the tables and read the runs."""
        # Fixed widths: cells are cut to fit, so a long target or reason never pushes the rest away.
        for table_id, columns in (("#runs", RUN_COLUMNS), ("#failures", FAILURE_COLUMNS)):
            table = self.query_one(table_id, DataTable)
            for label, width in columns:
                table.add_column(label, width=width)
        self.load_runs()

    # ---------------------------------------------------------------------- reading (threads)
    @work(thread=True, exclusive=True, group="deliveries-runs", exit_on_error=False)
    def load_runs(self) -> None:
        """Read the runs, newest first."""
        with closing(connect(self.db)) as conn:
            found = runs.list_runs(conn) if runs.has_runs_table(conn) else []
        self.post_message(self.RunsLoaded(found))

    @work(thread=True, exclusive=True, group="deliveries-failures", exit_on_error=False)
    def load_failures(self, run_id: int) -> None:
        """Read one run and what it did not deliver."""
        with closing(connect(self.db)) as conn:
            run = runs.get_run(conn, run_id)
            failures = list(islice(runs.iter_deliveries(conn, run_id, failures_only=True), FAILURES_SHOWN))
        if run is not None:
            self.post_message(self.FailuresLoaded(run, failures))

    @work(thread=True, exclusive=True, group="deliveries-views", exit_on_error=False)
    def load_views(self, delivery: dict[str, Any]) -> None:
        """Read the three views of one failure."""
        with closing(connect(self.db)) as conn:
            views = runs.failure_views(conn, delivery)
        self.post_message(self.ViewsLoaded(views))

    # ---------------------------------------------------------------------- showing (UI thread)
    @on(RunsLoaded)
    def show_runs(self, message: RunsLoaded) -> None:
        """Fill the runs table (keeping the selected run when it is still there)."""
        self.runs = message.runs
        table = self.query_one("#runs", DataTable)
        table.clear()
        self.query_one("#deliveries").set_class(not self.runs, "-empty")
        if not self.runs:
            self.query_one("#run-metrics", Static).update(EMPTY)
            return
        for run in self.runs:
            not_delivered = (run.get("failed") or 0) + (run.get("not_sent") or 0)
            cells = (
                str(run["id"]),
                run.get("kind") or "replay",
                (run["started_at"] or "")[:19].replace("T", " "),
                run["target"],
                run.get("query") or "",
                run["status"],
                f"{run.get('total') or 0:,}",
                f"{not_delivered:,}",
                _ms(run.get("p50_ms")),
                _ms(run.get("p99_ms")),
            )
            table.add_row(*_cells(cells, RUN_COLUMNS), key=str(run["id"]))
        keep = next((i for i, r in enumerate(self.runs) if r["id"] == self.run_id), 0)
        table.move_cursor(row=keep)
        self.load_failures(self.runs[keep]["id"])

    @on(DataTable.RowHighlighted, "#runs")
    def run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Read the highlighted run's failures."""
        if event.row_key.value is not None and int(event.row_key.value) != self.run_id:
            self.load_failures(int(event.row_key.value))

    @on(FailuresLoaded)
    def show_failures(self, message: FailuresLoaded) -> None:
        """Show a run's metrics and its failures; select the first."""
        self.run_id = message.run["id"]
        self.failures = message.failures
        self.query_one("#run-metrics", Static).update(run_metrics(message.run))
        table = self.query_one("#failures", DataTable)
        table.clear()
        for index, delivery in enumerate(self.failures):
            cells = (
                str(delivery["seq"] + 1),
                f"#{delivery.get('event_id')}",
                delivery.get("type") or "",
                delivery.get("name") or "",
                delivery["status"],
                str(delivery.get("http_status") or "–"),
                delivery.get("reason") or "",
            )
            table.add_row(*_cells(cells, FAILURE_COLUMNS), key=str(index))
        if self.failures:
            table.move_cursor(row=0)
            self.load_views(self.failures[0])
        else:
            nothing = "Every event of this run was delivered." if message.run.get("total") else "This run sent nothing."
            self._show_views({"you_sent": None}, note=nothing)

    @on(DataTable.RowHighlighted, "#failures")
    def failure_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Read the highlighted failure's views."""
        if event.row_key.value is not None and int(event.row_key.value) < len(self.failures):
            self.load_views(self.failures[int(event.row_key.value)])

    @on(ViewsLoaded)
    def show_views(self, message: ViewsLoaded) -> None:
        """Fill You Sent, Request and Response."""
        self._show_views(message.views)

    def _show_views(self, views: dict[str, Any], note: str | None = None) -> None:
        self.query_one("#view-sent-text", Static).update(note or sent_view(views))
        self.query_one("#view-request-text", Static).update(note or request_view(views))
        self.query_one("#view-response-text", Static).update(note or response_view(views))

    # ---------------------------------------------------------------------- actions
    def action_back(self) -> None:
        """Back to the stream."""
        self.app.pop_screen()

    def action_refresh(self) -> None:
        """Read the runs again (a replay may have finished meanwhile)."""
        self.load_runs()

    def action_view(self, pane: str) -> None:
        """Show You Sent, Request or Response."""
        self.query_one("#views", TabbedContent).active = pane
