"""The stream's column widths, sized by content and priority (docs/tui.md, "Columns").

Each column's content width is the widest cell among the rows held (a running maximum, capped:
kept as rows are added, so measuring costs one pass over each new row). From a width and those
maxima, :func:`layout` gives each column its width:

1. time and type are fixed; status gets its whole content, up to ``STATUS_WANT`` (a code is
   never cut while there is any room for it);
2. name gets a reasonable minimum (``NAME_MIN``, even if the names so far are shorter);
3. user, then source, get their narrowest useful width when it fits, else they are dropped
   (source first: it is never shown without user);
4. what is left widens user and source to their content (up to their usual widths), then name
   up to its content, then status and user/source to their whole content; name takes the rest up
   to its usual width (``want``), and any more is left blank at the end of the line, so that a
   row's cells stay near each other on a wide terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

GAP = 2  # spaces between columns
NAME_MIN = 16
STATUS_WANT = 32


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its title, its narrowest useful width, its usual width and the widest content measured."""

    title: str
    floor: int
    want: int
    cap: int


TIME, TYPE, NAME, USER, SOURCE, STATUS = range(6)
COLUMNS = (
    Column("time", 12, 12, 12),
    Column("type", 8, 8, 8),
    Column("name", NAME_MIN, 40, 80),
    Column("user", 8, 22, 40),
    Column("source", 6, 14, 30),
    Column("status", 10, STATUS_WANT, 40),
)


def empty() -> list[int]:
    """Content widths before any row is measured: each column's title."""
    return [min(len(c.title), c.cap) for c in COLUMNS]


def measure(widths: list[int], cells: list[int]) -> bool:
    """Widen the running maxima ``widths`` by one row's cell widths; ``True`` when one grew."""
    grew = False
    for index, (column, cell) in enumerate(zip(COLUMNS, cells, strict=True)):
        cell = min(cell, column.cap)
        if cell > widths[index]:
            widths[index] = cell
            grew = True
    return grew


def layout(width: int, content: list[int]) -> tuple[int, ...]:
    """Each column's width (0: dropped) for a line of ``width`` cells and these content widths."""
    out = [0] * len(COLUMNS)
    out[TIME], out[TYPE] = COLUMNS[TIME].want, COLUMNS[TYPE].want
    rest = width - out[TIME] - out[TYPE] - 3 * GAP  # the gaps before type, name and status
    name_min = NAME_MIN  # even when the names so far are shorter: the next may not be
    # Status first, giving way only down to its floor so that name keeps its minimum.
    status = min(content[STATUS], STATUS_WANT)
    status = max(min(status, rest - name_min), min(status, COLUMNS[STATUS].floor))
    out[STATUS] = status
    rest -= status
    out[NAME] = max(1, min(name_min, rest))
    rest -= out[NAME]
    for index in (USER, SOURCE):  # source is dropped before user (and never shown without it)
        floor = min(content[index], COLUMNS[index].floor)
        if rest < GAP + floor:
            break
        out[index] = floor
        rest -= GAP + floor
    growth = (
        (USER, 16),
        (SOURCE, 10),
        (USER, COLUMNS[USER].want),
        (SOURCE, COLUMNS[SOURCE].want),
        (NAME, COLUMNS[NAME].cap),
        (STATUS, COLUMNS[STATUS].cap),
        (USER, COLUMNS[USER].cap),
        (SOURCE, COLUMNS[SOURCE].cap),
    )
    for index, upto in growth:
        if out[index] and rest > 0:
            more = max(0, min(rest, min(content[index], upto) - out[index]))
            out[index] += more
            rest -= more
    # Name takes the rest, up to its usual width: room for a longer name arriving before the next
    # measure, without pushing user, source and status far from the name they belong to.
    out[NAME] += max(0, min(rest, COLUMNS[NAME].want - out[NAME]))
    return tuple(out)
