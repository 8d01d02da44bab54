"""Properties of the pure core (Hypothesis): total on any input, and validation rules are exact."""

from __future__ import annotations

import gzip
import itertools
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from debugger.core.http import model, wire
from debugger.core.protocol import Envelope, build_event
from debugger.core.timefmt import format_timestamp, parse_timestamp
from tests.strategies import MESSAGE_FIELDS

RECEIVED = datetime(2024, 5, 1, 12, tzinfo=UTC)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(MESSAGE_FIELDS)
messages = st.dictionaries(field_names, json_values, max_size=10)
paths = st.sampled_from(
    ["/v1/track", "/v1/t", "/v1/batch", "/v1/b", "/v1/import", "/v1/m", "/v1/pixel/track", "/v1/nope"]
)


def _handle(
    method: str,
    path: str,
    body: bytes,
    headers: tuple[tuple[str, str], ...] = (),
    query: tuple[tuple[str, str], ...] = (),
) -> model.Outcome:
    counter = itertools.count()
    request = model.IncomingRequest(
        method=method, path=path, body=body, headers=headers, query=query, remote="127.0.0.1"
    )
    return wire.handle(request, received_at=RECEIVED, new_id=lambda: f"id-{next(counter)}")


@given(body=st.binary(max_size=2000), path=paths, gzip_it=st.booleans())
@settings(max_examples=300, deadline=None)
def test_any_bytes_get_a_4xx_or_200_never_an_exception(body: bytes, path: str, gzip_it: bool) -> None:
    """Arbitrary bytes on any route: a Segment-shaped answer, never an exception or a 5xx."""
    headers = (("Content-Encoding", "gzip"),) if gzip_it else ()
    outcome = _handle("POST", path, gzip.compress(body) if gzip_it else body, headers)
    assert outcome.reply.status == 200 or 400 <= outcome.reply.status < 500
    if outcome.reply.status != 200:
        answer = orjson.loads(outcome.reply.body)
        assert answer["success"] is False and answer["code"] and answer["message"]
    assert outcome.record is not None


@given(document=json_values, path=paths, key_in_header=st.booleans())
@settings(max_examples=300, deadline=None)
def test_any_json_document_is_handled_and_every_message_accounted_for(
    document: Any, path: str, key_in_header: bool
) -> None:
    """Any JSON body: either a request-level rejection (one ``rejected`` row standing for the request),
    or one event per message (none dropped)."""
    headers = (("Authorization", "Basic V0s6"),) if key_in_header else ()
    outcome = _handle("POST", path, orjson.dumps(document), headers)
    rejected = outcome.record is not None and outcome.record.code is not None
    if rejected:
        assert [e.status for e in outcome.events] == ["rejected"]
        assert outcome.events[0].problems[0].code == outcome.record.code  # type: ignore[union-attr]
    elif outcome.reply.status == 200 and path in ("/v1/batch", "/v1/b", "/v1/import"):
        assert len(outcome.events) == len(document["batch"])
    elif outcome.reply.status == 200 and path in ("/v1/track", "/v1/t"):
        assert len(outcome.events) == 1
    for event in outcome.events:
        assert event.status in (("rejected",) if rejected else ("ok", "invalid"))
        orjson.dumps(event.stored)  # stored form is always serialisable


@given(
    batch=st.lists(messages, max_size=5),
    envelope=st.dictionaries(st.sampled_from(["sentAt", "context", "integrations", "writeKey"]), json_values),
)
@settings(max_examples=200, deadline=None)
def test_batches_of_arbitrary_messages(batch: list[dict[str, Any]], envelope: dict[str, Any]) -> None:
    """Arbitrary batch items and envelopes: never raises; an event per item when accepted."""
    outcome = _handle(
        "POST", "/v1/batch", orjson.dumps({**envelope, "batch": batch}), (("Authorization", "Basic V0s6"),)
    )
    assert outcome.reply.status in (200, 400)
    if outcome.reply.status == 200:
        assert len(outcome.events) == len(batch)


@given(data=st.text(max_size=200))
def test_pixel_always_answers_the_gif(data: str) -> None:
    """Pixel GETs answer the GIF with 200 whatever `data` holds."""
    outcome = _handle("GET", "/v1/pixel/track", b"", query=(("data", data),))
    assert outcome.reply.status == 200 and outcome.reply.content_type == "image/gif"


valid_tracks = st.fixed_dictionaries(
    {
        "type": st.just("track"),
        "event": st.text(min_size=1, max_size=30),
        "userId": st.text(min_size=1, max_size=20),
        "messageId": st.text(min_size=1, max_size=40).filter(str.strip),
        "properties": st.dictionaries(st.text(max_size=10), json_scalars, max_size=5),
    }
)


@given(item=valid_tracks)
def test_valid_event_survives_enrichment(item: dict[str, Any]) -> None:
    """A valid track is ok, keeps every field it sent, and raw round-trips to what was sent."""
    event = build_event(item, Envelope(write_key="WK", received_at=RECEIVED), new_id=lambda: "x")
    assert event.status == "ok" and event.problems == ()
    assert orjson.loads(event.raw) == item
    for key, value in item.items():
        assert event.stored[key] == value


@given(item=valid_tracks, drop=st.sampled_from(["event", "userId"]))
def test_dropping_a_required_field_yields_exactly_that_problem(item: dict[str, Any], drop: str) -> None:
    """Remove `event` → missing_event; remove `userId` → no_user_anon_id; nothing else."""
    del item[drop]
    event = build_event(item, Envelope(write_key="WK", received_at=RECEIVED), new_id=lambda: "x")
    expected = {"event": "missing_event", "userId": "no_user_anon_id"}[drop]
    assert [p.code for p in event.problems] == [expected]


@given(moment=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)))
def test_format_then_parse_is_stable(moment: datetime) -> None:
    """Our own timestamp format parses back to the same millisecond."""
    text = format_timestamp(moment)
    parsed = parse_timestamp(text)
    assert parsed is not None and format_timestamp(parsed) == text
