"""The ``?`` screen: keys, the search language, and what paste accepts."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# segdbg

## Keys
| key | what it does |
|---|---|
| `space` | pause / resume the live stream (storage never pauses) |
| `/` | search; `enter` back to the list; `esc` clears the search |
| `n` / `N` | next / previous match, over everything stored (not only the rows shown) |
| `↑` `↓` `g` `G` | move; `G`/`end` goes to the newest and follows it |
| `1` `2` `3` `4` `5` | Pretty · Raw · HTTP · Problems · Routes (with `--routing FILE`: each destination's verdict) |
| `l` | Pretty: next library dialect (the sender's is the default) |
| `r` | Raw: the message as received ⇄ as stored (the bar names what the server changed) |
| `enter` | into the detail (fold the Raw tree with `enter`/`space`); `esc` back |
| `p` or a terminal paste | paste a payload |
| `c` | copy the event: JSON, Pretty or curl (clipboard command, OSC 52, else a file it names) |
| `P` | pin / unpin the event: retention (`serve --max-events/--max-age`) never deletes a pinned one (📌) |
| `s` | the Schema screen: every event's properties, types and type drift (`d` drift only) |
| `d` | the Deliveries screen: replay runs, their metrics, and for each failure You Sent / Request / Response |
| `u` | the Identity screen: the highlighted event's user across sources (ids, identify/alias/group, merged traits, events) |
| `z` | clear the capture: delete every event and request (asks first: `y`/`enter` yes, `n`/`esc` no) |
| `ctrl+p` | every command |
| `q` | quit |

## Search
Terms are ANDed; `-term` negates; `a,b` is OR. `type:track` `event:"Order Completed"` `user:u1`
`source:web` `lib:analytics.js` `status:invalid` `id:MESSAGE_ID` `after:10m` `before:2024-05-01`
`has:properties.plan`, `pinned:true`, any JSON path (`properties.plan:pro`, `traits.email:*@acme.com`,
`context.library.version:>=2`), and bare words for free text over every stored event.

## Paste
A JSON message, a batch, a JSON array, NDJSON, a curl command, or calls such as
`analytics.track("Signed Up", { plan: "pro" })`, `analytics.track({ userId: "u1", event: "E" })`,
`analytics.track(user_id="u1", event="E")`, `Analytics.track(user_id: "u1", event: "E")`.
Pasted events are checked exactly like HTTP, stored with source `paste` (a curl command keeps its write key),
and never sent anywhere.

## The stream
The list keeps the newest 500 rows (`--cap`). When events arrive faster than anyone reads, it
shows an even sample and the status line says so; the capture always keeps 100%.
"""


class HelpScreen(ModalScreen[None]):
    """Keys and syntax; any of esc, q, ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        """The help text."""
        with VerticalScroll(id="help-dialog"):
            yield Markdown(HELP)
