"""RudderStack's browser SDKs, v3 (@rudderstack/analytics-js) and v1.1 (rudder-sdk-js), unmodified in
headless Chromium against a real segdbg (docs/protocol.md §1.5, §12): each fetches /sourceConfig
from segdbg, starts, and delivers every call. The page comes from a second loopback server; the
browser resolves no other host, so nothing leaves the machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from debugger.server.app import ServerThread
from tests.chromium import LOOPBACK_ONLY, PageServer, browsing, until_stored
from tests.helpers import ROOT, requests_rows

pytestmark = pytest.mark.slow

NODE = ROOT / "tests" / "node" / "node_modules"
SDKS = {
    "v3": NODE / "@rudderstack" / "analytics-js" / "dist" / "npm" / "modern" / "bundled" / "umd" / "index.js",
    "v1.1": NODE / "rudder-sdk-js" / "dist" / "npm" / "index.js",
}
#: How each version is loaded and called (the calls are the same: identify, track, page).
CALLS = {"v3": "const analytics = new rudderanalytics.RudderAnalytics();", "v1.1": "const analytics = rudderanalytics;"}
PAGE = """<!doctype html><title>shop</title><script src="/sdk.js"></script><script>
%(setup)s
analytics.load(%(key)s, %(url)s, {configUrl: %(url)s, logLevel: "ERROR"});
analytics.identify("u-rs", {plan: "pro"});
analytics.track("Order Completed", {total: 30, currency: "USD"});
analytics.page("Docs", "Intro", {path: "/docs"});
</script>"""


@pytest.fixture
def browser_profile(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "profile"


@pytest.mark.parametrize("version", ["v3", "v1.1"])
def test_rudderstack_browser_sdk_starts_on_segdbg_and_delivers(
    server: ServerThread, browser_profile: Path, version: str
) -> None:
    """The SDK loads its source config from segdbg (not RudderStack's control plane), then sends
    identify, track and page to segdbg: all stored ok under the write key, nothing else contacted."""
    assert SDKS[version].is_file(), "the real JavaScript clients are missing: run `npm ci --prefix tests/node`"
    key = f"rs-{version}"
    page = PAGE % {"setup": CALLS[version], "key": f'"{key}"', "url": f'"{server.url}"'}
    with PageServer(page, SDKS[version]) as shop:
        # No host resolves but loopback: nothing leaves the machine.
        with browsing(f"http://127.0.0.1:{shop.port}/", browser_profile, *LOOPBACK_ONLY) as chromium:
            stored = until_stored(server.settings.db, 3, timeout=40)
    kinds = [r["kind"] for r in requests_rows(server.settings.db)]
    assert kinds[0] == "source_config", (kinds, chromium.log)
    assert sorted((e["type"], e["name"], e["write_key"], e["status"]) for e in stored) == [
        ("identify", None, key, "ok"),
        ("page", "Intro", key, "ok"),
        ("track", "Order Completed", key, "ok"),
    ], chromium.log
    track = next(e for e in stored if e["type"] == "track")
    assert track["stored"]["properties"] == {"total": 30, "currency": "USD"}
