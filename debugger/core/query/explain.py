"""What an event holds where a query term looks: the ``(was "EUR")`` of a near miss.

`expect` failures list the closest events and the terms each one fails (docs/ci.md); this
module says, for each failed term, the value the event had there, so
``fails: properties.currency:GBP (was "EUR")`` needs no second look. Pure: works on the
exported form of an event (:func:`debugger.core.pretty.export.export_record`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from debugger.core.query.language import FieldTerm, HasTerm, PathTerm, Term, TextTerm, TimeTerm

#: The longest value shown; longer ones end in ``…``.
LIMIT = 60
#: The exported-record key a keyword term reads (``user`` and ``problem`` are read apart).
_FIELD_KEYS = {
    "type": "type",
    "event": "name",
    "source": "write_key",
    "lib": "library",
    "status": "status",
    "id": "message_id",
    "pinned": "pinned",
    "scope": "write_key",
}


def values_at(document: Any, path: tuple[str, ...]) -> list[Any]:
    """The non-null values at ``path`` in ``document``; an array on the way means each of its elements,
    as the filter language reads it (``properties.products.sku`` looks into every product)."""
    found = [document]
    for segment in path:
        step: list[Any] = []
        for node in found:
            items = node if isinstance(node, list) else [node]
            step += [item[segment] for item in items if isinstance(item, dict) and item.get(segment) is not None]
        found = step
    return found


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= LIMIT else text[: LIMIT - 1] + "…"


def seen(term: Term, event: Mapping[str, Any]) -> str | None:
    """What ``event`` (an export record) has where ``term`` looks, for a failure message:
    ``"EUR"``, ``absent``, ``"a", "b"`` (several values); ``None`` for free text (nothing to point at).
    """
    if isinstance(term, TextTerm):
        return None
    if isinstance(term, PathTerm):
        values = values_at(event.get("stored"), term.path)
    elif isinstance(term, HasTerm):
        values = [v for path in term.paths for v in values_at(event.get("stored"), path)]
    elif isinstance(term, TimeTerm):
        values = [event.get("received_at")]
    elif isinstance(term, FieldTerm) and term.name == "problem":
        values = [p.get("code") for p in event.get("problems") or [] if isinstance(p, dict)]
        return ", ".join(_show(v) for v in values) if values else "no problems"
    elif isinstance(term, FieldTerm) and term.name == "user":
        ids = [(label, event.get(key)) for label, key in (("userId", "user_id"), ("anonymousId", "anonymous_id"))]
        return ", ".join(f"{label} {_show(v)}" for label, v in ids if v is not None) or "absent"
    else:
        values = [event.get(_FIELD_KEYS[term.name])] if term.name in _FIELD_KEYS else []
    values = [v for v in values if v is not None]
    if not values:
        return "absent"
    return ", ".join(_show(v) for v in values[:3]) + (f" (+{len(values) - 3} more)" if len(values) > 3 else "")
