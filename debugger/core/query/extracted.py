"""JSON paths the capture also keeps as columns, so a filter on them reads two small columns instead of
parsing the stored message (docs/search.md, "Paths kept as columns").

``context.app.version`` is how releases are sliced (``segdbg diff --schema 'context.app.version:1.2'
'context.app.version:1.3'``): on a capture of a million events, SQLite parsing every stored message
to answer it costs more than the rest of the diff together. The writer fills, from the message it
already holds, the value SQLite's ``json_extract`` would give for the path and the name
``json_type`` would give it (NULL, NULL when the path is absent), or the mark ``json`` in the type
column saying the columns cannot answer and the filter reads the message, as without the columns:

- an array on the way or at the end, or an object at the end (the filter language looks into arrays),
  or a message that is not an object;
- a row written before the columns existed, or by anything but the writer: the type column's
  default is the mark.

Both columns are then read as they are, with no function around them: the filter on a million rows
costs a few comparisons each.

So a filter gives the same rows with or without the columns (``tests/test_extracted_paths.py``).
Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

#: A JSON path (keys from the root) → its value column and its type column in ``events``.
EXTRACTED: dict[tuple[str, ...], tuple[str, str]] = {("context", "app", "version"): ("app_version", "app_version_type")}
#: The type column's mark (and default): only the message can answer.
READ_JSON = "json"


def extract(message: object, path: tuple[str, ...]) -> tuple[Any, str | None]:
    """``(json_extract, json_type)`` of ``path`` in ``message`` as SQLite would give them from its JSON
    (``(None, None)`` when absent), or ``(None, READ_JSON)`` when only the document can answer."""
    node = message
    if not isinstance(node, dict):
        return None, READ_JSON
    for key in path:
        if isinstance(node, list):
            return None, READ_JSON
        if not isinstance(node, dict) or key not in node:
            return None, None
        node = node[key]
    if node is None:
        return None, "null"
    if node is True or node is False:
        return int(node), "true" if node else "false"
    if isinstance(node, int):
        return node, "integer"
    if isinstance(node, float):
        return node, "real"
    if isinstance(node, str):
        return node, "text"
    return None, READ_JSON
