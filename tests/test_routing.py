"""Destinations and consent, explained (debugger.core.routing): the routing file, and each destination's verdict
on one event in Segment's precedence (integrations object, consent, filters, fields removed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from debugger.core import routing as r
from debugger.store.routingfile import read_routing

ROUTING = """\
destinations:
  Amplitude:
    mode: cloud
    consent: [Analytics]
  Mixpanel:
    mode: device
    consent: [Analytics]
    filters:
      - title: strip pii
        if: type = 'track'
        actions:
          - type: block_properties
            fields: {properties: [email, address.city]}
  Braze:
    consent: [Advertising]
    filters:
      - title: drop tests
        if: match(event, 'Test *')
        actions: [{type: drop_event}]
      - title: sample pages
        if: type = 'page'
        actions: [{type: sample_event, percent: 0.5}]
      - title: keep plan only
        if: all
        type: allow_properties
        fields: {properties: {fields: [plan]}}
"""


def _event(**extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "track",
        "event": "Order Completed",
        "messageId": "m-1",
        "properties": {"email": "a@b.c", "plan": "pro", "address": {"city": "Paris", "zip": "75001"}},
        "context": {"consent": {"categoryPreferences": {"Analytics": True, "Advertising": True}}},
    }
    event.update(extra)
    return event


def _lines(event: dict[str, Any]) -> list[str]:
    return [v.sentence() for v in r.route(r.parse_text(ROUTING, "routing.yaml"), event)]


def test_consent_off_blocks_with_the_sentence_the_docs_promise() -> None:
    event = _event(context={"consent": {"categoryPreferences": {"Analytics": False, "Advertising": True}}})
    lines = _lines(event)
    assert lines[0] == "Amplitude: blocked, consent category Analytics is off"
    assert lines[1] == "Mixpanel: blocked, consent category Analytics is off"
    assert lines[2].startswith("Braze: delivered")


def test_everything_on_delivers_and_names_the_fields_removed_and_by_which_filter() -> None:
    lines = _lines(_event())
    assert lines == [
        "Amplitude: delivered",
        'Mixpanel: delivered (properties.email, properties.address.city removed by filter "strip pii")',
        'Braze: delivered (properties.email, properties.address removed by filter "keep plan only")',
    ]


def test_a_category_missing_from_preferences_is_not_consent_but_no_consent_object_is_not_enforced() -> None:
    missing = _event(context={"consent": {"categoryPreferences": {"Advertising": True}}})
    assert (
        _lines(missing)[0]
        == "Amplitude: blocked, consent category Analytics is not in context.consent.categoryPreferences"
    )
    assert _lines(_event(context={}))[0] == "Amplitude: delivered"
    verdict = r.route(r.parse_text(ROUTING), missing)[0]
    assert (verdict.reason, verdict.categories) == (r.BY_CONSENT, ("Analytics",))


def test_the_integrations_object_comes_first() -> None:
    off = _event(integrations={"Amplitude": False}, context={"consent": {"categoryPreferences": {"Analytics": False}}})
    assert _lines(off)[0] == "Amplitude: blocked, integrations.Amplitude is false"
    everything_off = _event(integrations={"All": False, "Mixpanel": True, "Braze": {"appId": "x"}})
    lines = _lines(everything_off)
    assert lines[0] == "Amplitude: blocked, integrations.All is false"
    assert lines[1].startswith("Mixpanel: delivered")
    assert lines[2].startswith("Braze: delivered")


def test_drop_and_sample_filters_name_the_filter_and_sampling_is_deterministic() -> None:
    dropped = _lines(_event(event="Test Click"))[2]
    assert dropped == 'Braze: blocked, dropped by filter "drop tests"'
    routing = r.parse_text(ROUTING)
    pages = [{"type": "page", "messageId": f"m-{i}", "properties": {}} for i in range(400)]
    kept = [r.route(routing, p)[2].delivered for p in pages]
    assert kept == [r.route(routing, p)[2].delivered for p in pages]  # the same answer every time
    assert 150 < sum(kept) < 250  # about half
    out = next(r.route(routing, p)[2] for p, k in zip(pages, kept, strict=True) if not k)
    assert (out.reason, out.filter) == (r.BY_FILTER, "sample pages")
    assert out.detail == 'sampled out by filter "sample pages" (keeps 50% by messageId)'


def test_the_stored_message_is_never_changed() -> None:
    event = _event()
    before = repr(event)
    r.route(r.parse_text(ROUTING), event)
    assert repr(event) == before


def test_delivered_to_and_json() -> None:
    routing = r.parse_text(ROUTING)
    off = _event(context={"consent": {"categoryPreferences": {"Analytics": False, "Advertising": True}}})
    assert not r.DeliveredTo(routing, "Amplitude").holds(off)
    assert r.DeliveredTo(routing, "Braze").holds(off)
    with pytest.raises(r.RoutingError, match="no destination 'Nobody'; it names Amplitude, Mixpanel, Braze"):
        r.DeliveredTo(routing, "Nobody")
    doc = r.route(routing, _event())[1].to_json()
    assert doc["mode"] == "device" and doc["delivered"] is True
    assert doc["removed"] == [{"filter": "strip pii", "fields": ["properties.email", "properties.address.city"]}]


def test_json_routing_files_read_the_same() -> None:
    text = (
        '{"destinations": {"Amplitude": {"consent": ["Analytics"], "filters": [{"title": "t", "if": "all", '
        '"actions": [{"type": "DROP_PROPERTIES", "fields": ["properties.email"]}]}]}}}'
    )
    routing = r.parse_text(text, "routing.json")
    assert _lines(_event())[0] == "Amplitude: delivered"
    assert r.route(routing, _event())[0].sentence() == 'Amplitude: delivered (properties.email removed by filter "t")'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "destinations:\n  Amplitude:\n    filters:\n      - title: x\n        actions:\n          - type: drop_evnt\n",
            "routing.yaml, line 6: destinations.Amplitude.filters[0].actions[0].type: unknown filter type 'drop_evnt'; "
            "expected one of sample_event, drop_event, block_properties, allow_properties.",
        ),
        (
            "destinations:\n  Amplitude:\n    filters:\n      - if: event == 'x'\n        type: drop_event\n",
            "routing.yaml, line 4: destinations.Amplitude.filters[0].if: FQL error at offset 6: FQL compares with a "
            "single `=`.\n  event == 'x'\n        ^^",
        ),
        (
            "destinations:\n  Amplitude:\n    mode: cloud\n    consnt: [Analytics]\n",
            "routing.yaml, line 4: destinations.Amplitude.consnt: unknown key; a destination has consent, description, "
            "enabled, filters, mode.",
        ),
        (
            "destinations:\n  Amplitude:\n    filters:\n      - type: sample_event\n        percent: 10\n",
            "routing.yaml, line 5: destinations.Amplitude.filters[0].percent: percent is the share kept, 0 to 1 as "
            "Segment writes it (0.1 keeps 10%).",
        ),
        ("destinations: [\n", "routing.yaml, line 2, column 1: not valid JSON or YAML"),
        ("{}", "routing.yaml: a routing file is a mapping with a `destinations:` key (docs/routing.md)."),
    ],
)
def test_bad_routing_files_say_where_and_why(text: str, message: str) -> None:
    with pytest.raises(r.RoutingError) as caught:
        r.parse_text(text, "routing.yaml")
    assert str(caught.value).startswith(message), str(caught.value)


def test_reading_a_routing_file_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING, encoding="utf-8")
    assert [d.name for d in read_routing(path).destinations] == ["Amplitude", "Mixpanel", "Braze"]
    with pytest.raises(r.RoutingError, match="missing.yaml: cannot read"):
        read_routing(tmp_path / "missing.yaml")
