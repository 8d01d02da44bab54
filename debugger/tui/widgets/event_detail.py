"""The detail of one event: Pretty, Raw, HTTP and Problems tabs (only the visible one renders)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static, Tab, TabbedContent, TabPane

from debugger.core.http.wire import SUCCESS_BODY, error_body
from debugger.core.lint.finding import Finding, from_problem
from debugger.core.pretty.render import (
    DIALECTS,
    dialect_for,
    enrichment,
    inert,
    inert_lines,
    lexer_for,
    rejection,
    render_call,
)
from debugger.core.routing import Routing
from debugger.tui.widgets.json_tree import JsonTree
from debugger.tui.widgets.lines_view import LinesView
from debugger.tui.widgets.problems import problems_view
from debugger.tui.widgets.routes import routes_view

TABS = ("pretty", "raw", "http", "problems")
#: The tab a routing file adds (`--routing FILE`, docs/routing.md).
ROUTES = "routes"


@cache
def _lexer(name: str) -> Lexer:
    return get_lexer_by_name(name)  # looking a lexer up costs milliseconds; keep one per language


def highlight(code: str, lexer: str) -> Text:
    """Pretty code as highlighted ``Text`` (measured and drawn without re-highlighting)."""
    syntax = Syntax(code, _lexer(lexer), theme="ansi_dark", background_color="default")
    text = syntax.highlight(code)
    text.rstrip()
    # Syntax crops long lines; a detail view must show all of them (a curl body is one line per value,
    # but a 300-character string is still one): wrap, folding what has no space to break at.
    text.no_wrap = False
    text.overflow = "fold"
    return text


SEVERITY = {"error": ("✗", "bold red"), "warning": ("⚠", "yellow")}
#: How the Raw bar marks what enrichment did: added, changed, removed.
RAW_CHANGE = {"+": "green", "~": "yellow", "-": "red"}


class EventDetail(Vertical):
    """Shows ``event``; asks its parent for the HTTP request row when the HTTP tab needs it."""

    @dataclass
    class RequestWanted(Message):
        """The HTTP tab needs request ``request_id``."""

        request_id: int

    class DialectWanted(Message):
        """The dialect name was clicked: offer the list."""

    def __init__(self, *, base_url: str, routing: Routing | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.base_url = base_url
        self.routing = routing
        self.event: dict[str, Any] | None = None
        self.findings: list[Finding] = []  # what the Problems tab lists: stored problems, lint, plan
        self.override: str | None = None  # a dialect picked by hand, kept across events
        self.requests: dict[int, dict[str, Any] | None] = {}
        self._rendered: set[str] = set()
        self.as_received = False  # Raw: the message as received instead of as stored (r)

    def compose(self) -> ComposeResult:
        """The four tabs."""
        with TabbedContent(id="detail-tabs", initial="tab-pretty"):
            with TabPane("Pretty", id="tab-pretty"):
                yield Static("", id="pretty-bar")
                yield LinesView(id="detail-pretty")
            with TabPane("Raw", id="tab-raw"):
                yield Static("", id="raw-bar")
                yield JsonTree(id="detail-raw")
            with TabPane("HTTP", id="tab-http"):
                yield LinesView(id="detail-http")
            with TabPane("Problems (0)", id="tab-problems"):
                yield LinesView(id="detail-problems")
            if self.routing is not None:
                with TabPane("Routes", id="tab-routes"):
                    yield LinesView(id="detail-routes")

    @property
    def active(self) -> str:
        """The visible tab: ``pretty``, ``raw``, ``http`` or ``problems``."""
        return self.query_one(TabbedContent).active.removeprefix("tab-")

    @property
    def dialect(self) -> str:
        """The Pretty dialect in use: the hand-picked one, else the sender's."""
        if self.override is not None:
            return self.override
        return dialect_for(self.event.get("library_name")) if self.event else "curl"

    def focus_content(self) -> None:
        """Move focus into the visible tab: the Raw tree (folds with enter/space) or the
        scrolling text of the others (arrows and page keys scroll it)."""
        self.query_one(f"#detail-{self.active}").focus()

    def has_tab(self, name: str) -> bool:
        """Whether this detail has the tab (Routes only with a routing file)."""
        return name in TABS or (name == ROUTES and self.routing is not None)

    def show_tab(self, name: str) -> None:
        """Switch to a tab by name."""
        self.query_one(TabbedContent).active = f"tab-{name}"

    def show(self, event: dict[str, Any] | None) -> None:
        """Show an event (``None``: nothing selected)."""
        self.event = event
        self._rendered.clear()
        lint = getattr(self.app, "lint", None)
        self.findings = (
            lint.findings(event) if lint is not None else [from_problem(p) for p in (event or {}).get("problems") or []]
        )
        tab = self.query_one(TabbedContent).get_tab("tab-problems")
        _relabel(tab, f"Problems ({len(self.findings)})")
        self._draw(self.active)

    def set_dialect(self, dialect: str | None) -> None:
        """Pick a dialect by hand (``None``: follow the sender)."""
        self.override = dialect
        self._rendered.discard("pretty")
        if self.active == "pretty":
            self._draw("pretty")

    def cycle_dialect(self) -> str:
        """Switch Pretty to the next dialect; returns it."""
        nxt = DIALECTS[(DIALECTS.index(self.dialect) + 1) % len(DIALECTS)]
        self.set_dialect(nxt)
        self.show_tab("pretty")
        return nxt

    def toggle_received(self) -> bool:
        """Raw: switch between the message as stored and as received; returns whether it is as received."""
        self.as_received = not self.as_received
        self._rendered.discard("raw")
        self.show_tab("raw")
        self._draw("raw")
        return self.as_received

    def request_arrived(self, request_id: int, request: dict[str, Any] | None) -> None:
        """The parent loaded a request row."""
        self.requests[request_id] = request
        self._rendered.discard("http")
        if self.active == "http":
            self._draw("http")

    @on(events.Click, "#pretty-bar")
    def _bar_clicked(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.DialectWanted())

    @property
    def sender_dialect(self) -> str:
        """The dialect of the sending library."""
        return dialect_for(self.event.get("library_name")) if self.event else "curl"

    @on(TabbedContent.TabActivated)
    def _tab(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        self._draw(self.active)

    def _draw(self, tab: str) -> None:
        if tab in self._rendered:
            return
        self._rendered.add(tab)
        event = self.event
        if tab == "pretty":
            self._pretty(event)
        elif tab == "raw":
            self._raw(event)
        elif tab == "http":
            self.query_one("#detail-http", LinesView).show(self._http(event))
        elif tab == ROUTES and self.routing is not None:
            self.query_one("#detail-routes", LinesView).show(routes_view(event, self.routing))
        else:
            lint = getattr(self.app, "lint", None)
            self.query_one("#detail-problems", LinesView).show(
                problems_view(event, self.findings, lint.plan_name if lint else None)
            )

    def _raw(self, event: dict[str, Any] | None) -> None:
        tree = self.query_one("#detail-raw", JsonTree)
        bar = self.query_one("#raw-bar", Static)
        if event is None:
            bar.update("", layout=False)
            tree.show("(no event selected)", None)
            return
        if rejection(event) is not None:
            bar.update(Text("the body as received: the request was rejected, nothing was stored", style="dim"))
            tree.show(f"#{event['id']}: the body as received", event.get("raw"))
            return
        raw, stored = event.get("raw"), event.get("stored")
        changes = enrichment(raw, stored)
        line = Text.assemble(
            ("as received" if self.as_received else "as stored", "bold"),
            ("   r ", "bold"),
            ("shows it as stored" if self.as_received else "shows it as received", "dim"),
        )
        if changes:
            line.append("   the server changed: ", style="dim")
            for index, (op, path) in enumerate(changes[:12]):
                line.append((" " if index else "") + op + inert(path, 60), style=RAW_CHANGE.get(op, ""))
            if len(changes) > 12:
                line.append(f" +{len(changes) - 12} more", style="dim")
        else:
            line.append("   stored exactly as received", style="dim")
        bar.update(line)
        if self.as_received:
            tree.show(f"#{event['id']} as received", raw)
        else:
            tree.show(f"#{event['id']} as stored", stored or raw)

    def _pretty(self, event: dict[str, Any] | None) -> None:
        bar = self.query_one("#pretty-bar", Static)
        code = self.query_one("#detail-pretty", LinesView)
        if event is None:
            bar.update("", layout=False)
            code.show(Text("Select an event to see it as its library's call.", style="dim"))
            return
        refusal = rejection(event)
        if refusal is not None:
            bar.update(Text("rejected request", style="bold red"), layout=False)
            code.show(rejected_view(event, refusal))
            return
        library = event.get("library_name")
        sender = (
            f"sent by {inert(library, 40)} {inert(event.get('library_version') or '', 20)}".strip()
            if library
            else "no library named itself (raw HTTP)"
        )
        line = Text.assemble(
            (self.dialect, "bold"), (" ▾", "dim"), (f"   {sender} · ", "dim"), ("l", "bold"), (" next dialect", "dim")
        )
        if self.override is not None:
            line.append(" (picked by hand)", style="dim")
        bar.update(line, layout=False)
        code.show(
            highlight(inert_lines(render_call(event, self.dialect, base_url=self.base_url)), lexer_for(self.dialect))
        )

    def _http(self, event: dict[str, Any] | None) -> RenderableType:
        if event is None:
            return Text("")
        request_id = event.get("request_id")
        if request_id is None:
            return Text("This event has no request row.", style="dim")
        if request_id not in self.requests:
            self.post_message(self.RequestWanted(int(request_id)))
            return Text("Loading the request…", style="dim")
        return http_view(self.requests[request_id])


def rejected_view(event: dict[str, Any], refusal: dict[str, Any]) -> RenderableType:
    """Pretty for a request refused whole: what was refused, why, and where its bytes are."""
    status = refusal.get("status")
    where = f"{refusal.get('method') or ''} {refusal.get('path') or ''}".strip()
    text = Text.assemble(
        ("✗ ", "bold red"),
        (f"{status} {inert(refusal.get('code') or '', 40)}", "bold red"),
        f"  {inert(where, 200)}\n\n",
        inert(refusal.get("message") or "", 400),
        "\n\n",
        (
            "Nothing from this request was stored as an event: Segment would have refused it too"
            + (" (it answers 200 and drops the batch)." if status == 200 else ".")
            + "\nRaw shows the body as received; HTTP shows the request and the answer.",
            "dim",
        ),
    )
    raw = event.get("raw")
    body = raw if isinstance(raw, str) else orjson.dumps(raw, option=orjson.OPT_INDENT_2).decode() if raw else ""
    if body:
        text.append("\n\nbody\n", style="bold")
        text.append(inert_lines(body[:4000], 400))
        if len(body) > 4000:
            text.append(f"\n… {len(body) - 4000:,} more characters (Raw, or `segdbg events --format har`)", style="dim")
    return text


def http_view(request: dict[str, Any] | None) -> RenderableType:
    """The request as received: line, time, peer, headers (auth masked), body facts, answer."""
    if request is None:
        return Text("The request row is gone (was the capture reset?).", style="dim")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    query = f"?{request['query_string']}" if request.get("query_string") else ""
    grid.add_row("request", Text(f"{request['method']} {inert(request['path'], 200)}{inert(query, 200)}"))
    grid.add_row("received", Text(inert(request.get("received_at"), 40)))
    grid.add_row("from", Text(inert(request.get("remote_addr") or "—", 60)))
    grid.add_row("write key", Text(inert(request.get("write_key") or "—", 80)))
    grid.add_row("encoding", Text(inert(request.get("content_encoding") or "none (identity)", 40)))
    size = f"{request.get('wire_size') or 0:,} bytes on the wire"
    if request.get("body_size") is not None and request.get("body_size") != request.get("wire_size"):
        size += f", {request['body_size']:,} decoded"
    grid.add_row("size", Text(size))
    status = int(request.get("status") or 0)
    answer = Text(str(status), style="bold green" if status == 200 else "bold red")
    if request.get("code"):
        answer.append(f"  {inert(request['code'], 40)}: {inert(request.get('message') or '', 300)}")
    grid.add_row("response", answer)
    reply = answer_body(request)
    if reply:
        grid.add_row("answered", Text(inert(reply, 600)))
    headers = Table.grid(padding=(0, 1))
    headers.add_column(style="cyan", no_wrap=True)
    headers.add_column()
    for name, value in request.get("headers") or []:
        headers.add_row(Text(inert(name, 60) + ":"), Text(inert(value, 400)))
    parts: list[RenderableType] = [grid, Text("\nheaders", style="bold"), headers]
    body = request.get("body")
    if body:
        preview = body[:4000].decode("utf-8", "replace") if isinstance(body, bytes) else str(body)[:4000]
        parts += [
            Text("\nbody as received (kept because the request was rejected)", style="bold"),
            Text(inert_lines(preview, 400)),
        ]
    elif request.get("method") == "POST":
        parts.append(
            Text(
                "\nbody: not kept for an accepted request; its messages are stored (Raw shows each as received)",
                style="dim",
            )
        )
    return Group(*parts)


def answer_body(request: dict[str, Any]) -> str:
    """The body segdbg answered (``""`` when it was not JSON: a pixel's GIF, a settings body)."""
    status, code = int(request.get("status") or 0), request.get("code")
    if code and status >= 400:
        return error_body(str(code), str(request.get("message") or "")).decode()
    if request.get("method") == "POST" and status == 200:
        return SUCCESS_BODY.decode()
    return ""


def _relabel(tab: Tab, label: str) -> None:
    """Give a tab a new label; one as wide as the old (the count, 0-9) repaints only the tab.

    Setting ``ContentTab.label`` lays out the whole screen (~10 ms here), and the Problems count
    changes from one event to the next as a person moves through the stream: that was a layout
    pass on most ↑/↓ presses. (Textual keeps the label in ``_label``; the tab bar's underline
    needs no move when the width is the same.)
    """
    if tab.label_text == label:
        return
    if cell_len(label) != cell_len(tab.label_text):
        tab.label = label
        return
    tab._label = Content.from_text(label)
    Static.update(tab, tab._label, layout=False)
