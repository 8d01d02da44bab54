"""No false positives: the Segment-spec samples and what real client libraries sent lint as expected."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from debugger.core.inputs.payloads import PlannedRequest, plan_file
from debugger.core.lint.linter import Linter
from debugger.server.app import ServerThread
from tests.helpers import ROOT, events, http, run_segdbg
from tests.test_fixtures import FILES, load, replay

SAMPLES = ROOT / "sample_events"


def test_valid_sample_events_have_no_lint_findings(server: ServerThread) -> None:
    """sample_events/ (Ecommerce funnel, B2B sign-up, iOS/Android lifecycles, ...) through a real server: check is clean."""
    for path in sorted([*SAMPLES.glob("*.json"), *SAMPLES.glob("*.jsonl")]):
        for request in plan_file(path.name, path.read_bytes(), now=datetime.now(UTC)):
            assert isinstance(request, PlannedRequest)
            assert http(f"{server.url}{request.path}", body=request.body).status == 200
    stored = events(server.settings.db)
    assert len(stored) > 50
    linter = Linter()
    assert [(e["name"], f.code, f.path) for e in stored for f in linter.lint(e["stored"])] == []
    result = run_segdbg("check", "--db", str(server.settings.db))
    assert (result.returncode, result.stdout.strip().splitlines()[-1]) == (0, f"✓ No findings in {len(stored)} events.")


def test_real_client_captures_lint_exactly_as_expected(server: ServerThread) -> None:
    """Every real-library capture (fixtures/wire): only the true findings, the same for every library.

    Each client sent the same calls: `Order Completed` with revenue, currency and `items` (not the
    spec's order_id/products), and an `Anonymous Ping` (not Object Action). Nothing else is flagged:
    not `integrations {"All": false, "Mixpanel": true}`, not the client-set context.ip, not
    rudder's identify traits in context.traits.
    """
    for fixture in FILES:
        for captured in load(fixture):
            replay(server, captured)
    found = Counter((e["name"], f.code, f.path) for e in events(server.settings.db) for f in Linter().lint(e["stored"]))
    assert set(found) == {
        ("Order Completed", "semantic_missing_property", "properties.order_id"),
        ("Order Completed", "semantic_missing_property", "properties.products"),
        ("Anonymous Ping", "event_name_object_action", "event"),
    }
