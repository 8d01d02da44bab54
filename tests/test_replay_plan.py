"""The pure halves of replay: planning (shapes, limits, rewrites, pacing), retry rules, accounting."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from debugger.core.protocol import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
from debugger.core.replay.planning import (
    NOT_AN_OBJECT,
    PACE_WINDOW,
    TOO_LARGE,
    ReplayOptions,
    ReplayRequest,
    Skipped,
    outgoing_message,
    plan_replay,
    request_body,
    shift_delta,
)
from debugger.core.replay.report import Tally, junit_xml, percentile, summary_lines
from debugger.core.replay.retry import (
    DELIVERED,
    FAILED,
    RETRY,
    RetryPolicy,
    backoff_wait,
    next_wait,
    retry_after,
    verdict,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def stored_event(i: int = 0, **overrides: Any) -> dict[str, Any]:
    """An event as the store returns it: columns, raw (as received) and stored (enriched)."""
    raw = {
        "type": "track",
        "event": "Clicked",
        "userId": f"u{i}",
        "messageId": f"m{i}",
        "timestamp": f"2024-05-01T10:00:{i % 60:02d}.000Z",
        "writeKey": "wk_item",
        "sentAt": "2024-05-01T10:00:59.000Z",
    }
    stored = {k: v for k, v in raw.items() if k != "writeKey"}
    stored.update(
        {
            "originalTimestamp": raw["timestamp"],
            "receivedAt": "2024-05-01T10:01:00.000Z",
            "context": {"ip": "127.0.0.1"},
        }
    )
    event = {
        "id": i + 1,
        "type": "track",
        "name": "Clicked",
        "message_id": f"m{i}",
        "write_key": "wk",
        "timestamp": raw["timestamp"],
        "received_at": "2024-05-01T10:01:00.000Z",
        "raw": raw,
        "stored": stored,
    }
    event.update(overrides)
    return event


def plan(events: list[dict[str, Any]], **options: Any) -> list[ReplayRequest | Skipped]:
    """Plan with deterministic new ids."""
    counter = itertools.count()
    return list(plan_replay(events, ReplayOptions(**options), new_id=lambda: f"new-{next(counter)}"))


def test_outgoing_message_is_what_the_client_sent() -> None:
    """The raw message with type and messageId set, no per-message writeKey or sentAt, and no
    context.ip that the capturing server added."""
    message, message_id = outgoing_message(stored_event(), ReplayOptions(), lambda: "x")
    assert message == {
        "type": "track",
        "event": "Clicked",
        "userId": "u0",
        "messageId": "m0",
        "timestamp": "2024-05-01T10:00:00.000Z",
    }
    assert message_id == "m0"


def test_outgoing_message_merges_envelope_context_and_keeps_a_client_ip() -> None:
    """Envelope context/integrations (in stored) are sent; an ip the client set itself stays."""
    event = stored_event()
    event["raw"]["context"] = {"ip": "203.0.113.7", "device": {"type": "tablet"}}
    event["stored"]["context"] = {"ip": "203.0.113.7", "device": {"type": "tablet"}, "os": {"name": "iOS"}}
    event["stored"]["integrations"] = {"Amplitude": False}
    message, _ = outgoing_message(event, ReplayOptions(), lambda: "x")
    assert message is not None
    assert message["context"] == {"ip": "203.0.113.7", "device": {"type": "tablet"}, "os": {"name": "iOS"}}
    assert message["integrations"] == {"Amplitude": False}


def test_a_message_without_time_or_id_gets_the_captured_ones() -> None:
    """No client timestamp: the stored time is sent, so the event keeps its moment; a server-assigned
    messageId is sent so the copy can be matched to the original."""
    event = stored_event()
    del event["raw"]["timestamp"], event["raw"]["messageId"]
    event["timestamp"] = "2024-05-01T10:00:30.500Z"
    message, _ = outgoing_message(event, ReplayOptions(), lambda: "x")
    assert message is not None and message["timestamp"] == "2024-05-01T10:00:30.500Z" and message["messageId"] == "m0"


def test_rewrites() -> None:
    """New messageIds, id map before prefix (numbers too), and a shift applied to the client's field."""
    event = stored_event()
    event["raw"].update(anonymousId=42, previousId="old")
    options = ReplayOptions(new_message_ids=True, id_map={"u0": "qa"}, id_prefix="r-", shift_by=timedelta(hours=1))
    message, message_id = outgoing_message(event, options, lambda: "fresh")
    assert message is not None
    assert (message["messageId"], message_id) == ("fresh", "fresh")
    assert (message["userId"], message["anonymousId"], message["previousId"]) == ("qa", "r-42", "r-old")
    assert message["timestamp"] == "2024-05-01T11:00:00.000Z"


def test_shift_delta_anchors() -> None:
    """shift puts the latest event at now, or (paced by --speed) the earliest."""
    first, last = NOW - timedelta(days=1, minutes=10), NOW - timedelta(days=1)
    assert shift_delta(first, last, NOW, start_at_now=False) == timedelta(days=1)
    assert shift_delta(first, last, NOW, start_at_now=True) == timedelta(days=1, minutes=10)
    assert shift_delta(None, None, NOW, start_at_now=False) == timedelta(0)


def test_batches_split_by_count_key_and_bytes() -> None:
    """Batches hold at most batch_size events of one write key, and stay under 500 KB."""
    keys = ["a"] * 5 + ["b"] * 2
    planned = plan([stored_event(i, write_key=k) for i, k in enumerate(keys)], batch_size=3)
    assert [(p.write_key, len(p.items)) for p in planned if isinstance(p, ReplayRequest)] == [
        ("a", 3),
        ("a", 2),
        ("b", 2),
    ]
    big = [stored_event(i) for i in range(40)]
    for event in big:
        event["raw"]["properties"] = {"blob": "x" * 30_000}
    requests = [p for p in plan(big, batch_size=2500) if isinstance(p, ReplayRequest)]
    assert sum(len(r.items) for r in requests) == 40 and len(requests) == 3
    assert all(len(request_body(r, NOW)) <= MAX_BATCH_BYTES for r in requests)


def test_too_large_and_unreadable_events_are_skipped_not_sent() -> None:
    """A message over 32 KB, or a stored raw that is not an object, is reported and not sent."""
    huge = stored_event(0)
    huge["raw"]["properties"] = {"blob": "x" * MAX_MESSAGE_BYTES}
    text = stored_event(1, raw="not json")
    planned = plan([huge, text, stored_event(2)])
    assert [(p.reason, p.item.event_id) for p in planned if isinstance(p, Skipped)] == [
        (TOO_LARGE, 1),
        (NOT_AN_OBJECT, 2),
    ]
    assert [p.items[0].event_id for p in planned if isinstance(p, ReplayRequest)] == [3]


def test_request_bodies_are_valid_json_with_key_and_sent_at() -> None:
    """Batch and single bodies parse, carry writeKey and this attempt's sentAt; single goes to /v1/<type>."""
    (batch,) = plan([stored_event(0), stored_event(1)])
    assert isinstance(batch, ReplayRequest) and batch.path == "/v1/batch"
    body = orjson.loads(request_body(batch, NOW))
    assert body["writeKey"] == "wk" and body["sentAt"] == "2024-05-01T12:00:00.000Z" and len(body["batch"]) == 2
    single = plan([stored_event(0, type="identify")], batch=False)[0]
    assert isinstance(single, ReplayRequest) and single.path == "/v1/identify"
    assert orjson.loads(request_body(single, NOW))["sentAt"] == "2024-05-01T12:00:00.000Z"
    keyless = plan([stored_event(0, write_key=None)], batch=False)[0]
    assert isinstance(keyless, ReplayRequest) and "writeKey" not in orjson.loads(request_body(keyless, NOW))


def test_rate_and_speed_schedules() -> None:
    """--rate spaces events 1/N apart; --speed divides the original gaps, --max-gap caps each wait,
    out-of-order times never move the schedule backwards."""
    events = [stored_event(i) for i in (0, 10, 12, 5, 40)]
    at_rate = [p.at for p in plan(events, rate=4, batch=False) if isinstance(p, ReplayRequest)]
    assert at_rate == [0, 0.25, 0.5, 0.75, 1.0]
    at_speed = [p.at for p in plan(events, speed=2, max_gap=3, batch=False) if isinstance(p, ReplayRequest)]
    assert at_speed == [0, 3, 4, 4, 7]


def test_paced_batches_only_group_events_due_together() -> None:
    """Paced batching groups events due within PACE_WINDOW of the first, sent at the first's time."""
    events = [stored_event(i) for i in (0, 0, 0, 1, 1)]
    planned = [p for p in plan(events, speed=1) if isinstance(p, ReplayRequest)]
    assert [(len(p.items), p.at) for p in planned] == [(3, 0), (2, 1.0)]
    assert PACE_WINDOW < 0.01


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=40_000), min_size=0, max_size=60),
    keys=st.lists(st.sampled_from(["a", "b", None]), min_size=60, max_size=60),
    batch_size=st.integers(min_value=1, max_value=50),
    batch=st.booleans(),
)
def test_plan_sends_every_event_once_in_order_within_limits(
    sizes: list[int], keys: list[str | None], batch_size: int, batch: bool
) -> None:
    """Whatever the sizes and keys: every event is planned exactly once, sent in order or skipped
    as too large, and no request breaks a Segment limit."""
    events = []
    for i, size in enumerate(sizes):
        event = stored_event(i, write_key=keys[i])
        event["raw"]["properties"] = {"p": "x" * size}
        events.append(event)
    planned = plan(events, batch_size=batch_size, batch=batch)
    seen = [i.event_id for p in planned for i in (p.items if isinstance(p, ReplayRequest) else (p.item,))]
    assert sorted(seen) == [e["id"] for e in events]  # a skipped event may be reported before a pending batch
    sent = [i.event_id for p in planned if isinstance(p, ReplayRequest) for i in p.items]
    assert sent == sorted(sent)
    for p in planned:
        if isinstance(p, Skipped):
            assert p.reason == TOO_LARGE
            continue
        body = request_body(p, NOW)
        assert len({i.write_key for i in p.items}) == 1 and len(p.items) <= batch_size
        assert len(body) <= (MAX_BATCH_BYTES if batch else MAX_MESSAGE_BYTES)
        assert all(len(i.message) <= MAX_MESSAGE_BYTES for i in p.items)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, DELIVERED),
        (204, DELIVERED),
        (None, RETRY),
        (500, RETRY),
        (503, RETRY),
        (429, RETRY),
        (408, RETRY),
        (501, FAILED),
        (505, FAILED),
        (400, FAILED),
        (401, FAILED),
        (404, FAILED),
        (413, FAILED),
        (302, FAILED),
    ],
)
def test_verdicts(status: int | None, expected: str) -> None:
    """What is delivered, retried or failed, as Segment's clients decide it."""
    assert verdict(status) == expected


def test_retry_after_forms() -> None:
    """Retry-After in seconds or as an HTTP date; X-RateLimit-Reset in seconds or epoch."""
    assert retry_after({"Retry-After": "7"}, NOW) == 7
    assert retry_after({"retry-after": "Wed, 01 May 2024 12:00:30 GMT"}, NOW) == 30
    assert retry_after({"X-RateLimit-Reset": "3"}, NOW) == 3
    assert retry_after({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 12)}, NOW) == 12
    assert retry_after({"Retry-After": "soon"}, NOW) is None


def test_next_wait_is_bounded() -> None:
    """429 waits what it asks (capped); 5xx backs off exponentially with jitter; retries run out."""
    policy = RetryPolicy(retries=3, backoff=1, max_backoff=4, max_retry_after=60)
    assert next_wait(429, {"Retry-After": "2"}, 1, policy, now=NOW, jitter=0.5) == 2
    assert next_wait(429, {"Retry-After": "900"}, 1, policy, now=NOW, jitter=0.5) == 60
    assert [backoff_wait(n, policy, 0.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 2, 2]
    assert [backoff_wait(n, policy, 0.999) for n in (1, 3)] == [pytest.approx(1, abs=0.01), pytest.approx(4, abs=0.01)]
    assert next_wait(500, {}, 3, policy, now=NOW, jitter=0) == 2
    assert next_wait(500, {}, 4, policy, now=NOW, jitter=0) is None
    assert next_wait(400, {}, 1, policy, now=NOW, jitter=0) is None


def test_tally_and_percentiles() -> None:
    """Counts are per event, latencies per request, errors grouped by reason."""
    tally = Tally()
    tally.add_request("delivered", 100, 1, 10.0, None, None)
    tally.add_request("delivered", 50, 3, 30.0, None, None)
    tally.add_request("failed", 20, 1, 20.0, None, "HTTP 400 invalid_json")
    tally.add_skipped("too_large")
    summary = tally.summary(2.0)
    assert (summary["total"], summary["delivered"], summary["not_delivered"], summary["retried"]) == (171, 150, 21, 50)
    assert summary["p50_ms"] == 20 and summary["errors"] == {"HTTP 400 invalid_json": 20, "too_large": 1}
    assert percentile([1, 2, 3, 4], 0.5) == 2.5 and percentile([], 0.5) is None


def test_junit_escapes_payload_text() -> None:
    """Control characters from payloads cannot break the XML; failures and skips are counted."""
    run = {"id": 1, "target": "http://x", "duration_s": 1.5}
    deliveries = [
        {
            "type": "track",
            "name": "Bad\x1b[31m",
            "event_id": 1,
            "status": "failed",
            "attempts": 1,
            "reason": "HTTP 400",
            "error": "HTTP 400: \x00",
        },
        {"type": "track", "name": "Ok", "event_id": 2, "status": "delivered", "attempts": 1, "latency_ms": 5},
        {"type": "page", "name": None, "event_id": 3, "status": "not_sent", "attempts": 0, "reason": "too_large"},
    ]
    suite = ET.fromstring(junit_xml(run, deliveries)).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    assert "\\x1b" in (suite.find("testcase").get("name") or "")  # type: ignore[union-attr]


def test_rate_is_over_events_sent_and_what_is_left_is_counted() -> None:
    """An interrupted run of 10: 2 delivered and 4 failed in 2 s is 3 events/s, with 4 left; events
    delivered before a resume are in the counts, not in the rate."""
    tally = Tally(planned=10)
    tally.add_request("delivered", 2, 1, 10.0, None, None)
    tally.add_request("failed", 4, 1, 10.0, None, "HTTP 400")
    summary = tally.summary(2.0)
    assert (summary["attempted"], summary["left"], summary["events_per_s"]) == (6, 4, 3.0)
    lines = summary_lines(summary, "http://t")
    assert lines[0] == "Replay to http://t: 6 of 10 events attempted in 2.00 s (3 events/s)"
    assert "  left           4  (not sent yet: --resume sends them)" in lines
    resumed = Tally(planned=10, delivered=6, already=6)
    resumed.add_request("delivered", 4, 1, 10.0, None, None)
    summary = resumed.summary(1.0)
    assert (summary["attempted"], summary["left"], summary["events_per_s"], summary["delivered"]) == (4, 0, 4.0, 10)
    assert summary_lines(summary, "http://t")[0] == (
        "Replayed 4 events to http://t in 1.00 s (4 events/s); 6 delivered before it was resumed"
    )


def test_the_summary_a_run_is_judged_by() -> None:
    """Every number `replay` stores and prints, from one tally."""
    tally = Tally()
    tally.add_request("delivered", 3, 1, 10.0, 4.0, None)
    tally.add_request("delivered", 2, 2, 30.0, -8.0, None)
    tally.add_request("failed", 1, 3, 50.0, None, None)
    tally.add_request("not_sent", 4, 0, None, None, None)
    tally.add_request("not_sent", 1, 0, None, None, "circuit open")
    tally.add_skipped("too_large")
    assert tally.summary(3.0) == {
        "total": 12, "planned": 12, "already": 0, "attempted": 6, "left": 0, "delivered": 5, "not_delivered": 7,
        "failed": 1, "not_sent": 6, "retried": 3, "requests": 3, "duration_s": 3.0, "events_per_s": 2.0,
        "p50_ms": 30.0, "p95_ms": 48.0, "p99_ms": 49.6, "drift_p50_ms": 6.0, "drift_p99_ms": 7.96,
        "errors": {"not sent": 4, "unknown": 1, "circuit open": 1, "too_large": 1},
    }  # fmt: skip
    quiet = Tally(planned=2).summary(0.0)
    assert (quiet["planned"], quiet["left"], quiet["events_per_s"], quiet["p50_ms"], quiet["drift_p99_ms"]) == (
        2, 2, None, None, None,
    )  # fmt: skip
    assert Tally().summary(1.23456)["duration_s"] == 1.235
    assert Tally(delivered=7, already=7).summary(1.0)["attempted"] == 0
    slow = Tally()
    slow.add_request("delivered", 1, 1, None, None, None)
    assert slow.summary(3.0)["events_per_s"] == 0.3


def test_summary_lines_of_a_run_with_failures_latencies_and_drift() -> None:
    tally = Tally()
    tally.add_request("delivered", 1000, 1, 12.345, 1.0, None)
    tally.add_request("failed", 234, 2, 20.0, 3.0, "HTTP 400 invalid_json")
    tally.add_skipped("too_large\x1b[2J")
    assert summary_lines(tally.summary(2.0), "http://t") == [
        "Replay to http://t: 1,234 of 1,235 events attempted in 2.00 s (617 events/s)",
        "  delivered      1,000",
        "  not delivered  235  (234 failed, 1 not sent)",
        "  retried        234",
        "  latency        p50 16.2 ms · p95 19.6 ms · p99 19.9 ms  (per request, 2 sent)",
        "  pacing drift   p50 2.0 ms · p99 3.0 ms",
        "  errors:",
        "        234  HTTP 400 invalid_json",
        "          1  too_large\\x1b[2J",
    ]
    # A summary stored by an older version (no attempted/left/already) still prints.
    old = {"total": 5, "delivered": 5, "not_delivered": 0, "failed": 0, "not_sent": 0, "retried": 0, "duration_s": 1}
    assert summary_lines(old, "http://t") == [
        "Replayed 5 events to http://t in 1.00 s",
        "  delivered      5",
        "  not delivered  0",
        "  retried        0",
    ]


def test_junit_names_each_case_and_times_it() -> None:
    run = {"id": 7, "target": "http://t", "duration_s": None}
    deliveries = [
        {"type": "track", "name": "Ok", "event_id": 2, "message_id": "m2", "status": "delivered", "attempts": 1,
         "latency_ms": 1234},
        {"type": None, "name": None, "event_id": 3, "message_id": None, "status": "failed", "attempts": 2,
         "reason": None, "error": None},
        {"type": "page", "name": "Home", "event_id": 4, "status": "not_sent", "attempts": 0, "reason": None},
    ]  # fmt: skip
    root = ET.fromstring(junit_xml(run, deliveries))
    suite = root.find("testsuite")
    assert suite is not None and suite.attrib == {
        "name": "segdbg replay #7 → http://t", "tests": "3", "failures": "1", "errors": "0", "skipped": "1",
        "time": "0.000",
    }  # fmt: skip
    cases = suite.findall("testcase")
    assert [c.attrib for c in cases] == [
        {"classname": "replay.track", "name": "track Ok #2 m2", "time": "1.234"},
        {"classname": "replay.event", "name": "event #3", "time": "0.000"},
        {"classname": "replay.page", "name": "page Home #4", "time": "0.000"},
    ]
    failure = cases[1].find("failure")
    assert (
        failure is not None and failure.attrib == {"message": "failed", "type": "failed"} and failure.text == "failed"
    )
    skipped = cases[2].find("skipped")
    assert skipped is not None and skipped.attrib == {"message": "not_sent"}
    assert cases[0].find("failure") is None and cases[0].find("skipped") is None


def test_a_time_less_message_gets_its_stored_time_shifted_or_its_receipt() -> None:
    event = stored_event()
    del event["raw"]["timestamp"]
    options = ReplayOptions(shift_by=timedelta(hours=2))
    message, _ = outgoing_message(event, options, lambda: "x")
    assert message is not None and message["timestamp"] == "2024-05-01T12:00:00.000Z"
    event["timestamp"] = None  # no stored timestamp: the time it was received
    message, _ = outgoing_message(event, ReplayOptions(), lambda: "x")
    assert message is not None and message["timestamp"] == "2024-05-01T10:01:00.000Z"
    original = stored_event()
    del original["raw"]["timestamp"]
    original["raw"]["originalTimestamp"] = "2024-05-01T09:00:00Z"
    message, _ = outgoing_message(original, options, lambda: "x")
    assert message is not None and message["originalTimestamp"] == "2024-05-01T11:00:00.000Z"
    assert "timestamp" not in message


def test_one_request_per_event_leaves_room_for_the_key_and_sent_at() -> None:
    """Without batches the key and sentAt go into the message itself: 32 KB counts them too."""
    event = stored_event(0)
    padding = MAX_MESSAGE_BYTES - len(orjson.dumps(outgoing_message(event, ReplayOptions(), lambda: "x")[0]))
    event["raw"]["p"] = "x" * (padding - len(b',"p":""'))
    (batched,) = plan([event])
    assert isinstance(batched, ReplayRequest) and len(batched.items[0].message) == MAX_MESSAGE_BYTES
    (single,) = plan([event], batch=False)
    assert isinstance(single, Skipped) and single.reason == TOO_LARGE
    assert single.item.message_id == "m0" and (single.item.type, single.item.name) == ("track", "Clicked")


def test_requests_are_numbered_in_the_order_they_are_sent() -> None:
    events = [stored_event(i, write_key=k) for i, k in enumerate(["a", "a", "b", "a"])]
    planned = [p for p in plan(events, batch_size=2) if isinstance(p, ReplayRequest)]
    assert [(p.seq, p.write_key, len(p.items)) for p in planned] == [(0, "a", 2), (1, "b", 1), (2, "a", 1)]
    singles = [p for p in plan(events[:2], batch=False) if isinstance(p, ReplayRequest)]
    assert [(p.seq, p.path) for p in singles] == [(0, "/v1/track"), (1, "/v1/track")]


def test_a_message_sent_to_a_typed_route_is_replayed_with_its_type() -> None:
    """`/v1/track` bodies carry no type: the stored one (the route's) is put in, so a batch keeps it."""
    event = stored_event()
    del event["raw"]["type"]
    message, _ = outgoing_message(event, ReplayOptions(), lambda: "x")
    assert message is not None and message["type"] == "track"
    odd = stored_event(type="rejected")
    del odd["raw"]["type"]
    message, _ = outgoing_message(odd, ReplayOptions(), lambda: "x")
    assert message is not None and "type" not in message
