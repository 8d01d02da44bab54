"""Messages the follower workers post to the UI (data-carrying: never coalesced)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from debugger.store.follow import Increment, Snapshot
from debugger.tui.clipboard import CopyResult


@dataclass
class SnapshotLoaded(Message):
    """A full load finished; ``generation`` says which search it belongs to.

    ``select`` is the event to highlight (kept from before the load, or the nearest match to it),
    ``found`` that event when it is older than the snapshot's rows (it is put in its place);
    ``pasted`` the events a paste stored (the newest of them shown is selected).
    """

    generation: int
    snapshot: Snapshot
    version: int
    select: int | None = None
    found: dict[str, Any] | None = None
    pasted: tuple[int, ...] = ()


@dataclass
class MatchesCounted(Message):
    """The search's matches up to the snapshot's cursor were counted (after its rows were shown)."""

    generation: int
    matches: int


@dataclass
class EventsArrived(Message):
    """New events (a sample of them when they come faster than a person can read); ``pasted``: the
    events a paste stored, to select."""

    generation: int
    increment: Increment
    version: int
    pasted: tuple[int, ...] = ()


@dataclass
class RequestLoaded(Message):
    """The HTTP request row behind an event, for the HTTP tab."""

    request_id: int
    request: dict[str, Any] | None


@dataclass
class MatchFound(Message):
    """``n``/``N`` found the next match outside the rows on screen."""

    event: dict[str, Any] | None
    older: bool
    position: int | None = None
    generation: int = 0  # the search it was found for: a result for an older search is dropped


@dataclass
class PinChanged(Message):
    """An event was pinned or unpinned (``found`` is false when it is no longer stored)."""

    event_id: int
    pinned: bool
    found: bool


@dataclass
class PasteStored(Message):
    """Pasted events were committed; select the last of ``event_ids``."""

    event_ids: tuple[int, ...]
    summary: str


@dataclass
class CaptureCleared(Message):
    """``z`` deleted every captured event (``deleted`` of them)."""

    deleted: int


@dataclass
class CopyDone(Message):
    """A copy finished: what took the text (see :func:`debugger.tui.clipboard.report`)."""

    label: str
    chars: int
    result: CopyResult
