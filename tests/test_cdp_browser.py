"""Customer.io's browser library (@customerio/cdp-analytics-browser, a fork of analytics-next),
unmodified in headless Chromium against a real segdbg (docs/protocol.md §12): it reads its API host
from the settings under its own integration name, ``Customer.io Data Pipelines``. With its
``cdnURL`` set to segdbg's URL followed by its own CDN host (``…:8088/cdp.customer.io``), the
settings name that integration, pointing at segdbg, so it sends here and not to its cloud. The
browser resolves no host but loopback: nothing leaves the machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from debugger.server.app import ServerThread
from tests.chromium import LOOPBACK_ONLY, PageServer, browsing, until_stored
from tests.helpers import ROOT, requests_rows

pytestmark = pytest.mark.slow

CUSTOMERIO = ROOT / "tests/node/node_modules/@customerio/cdp-analytics-browser/dist/umd/standalone.js"
#: The snippet Customer.io's docs give, reduced to what it does: a buffer of calls, the key and the CDN.
PAGE = """<!doctype html><title>shop</title><script>
var analytics = window.analytics = [];
analytics.factory = function (m) { return function () {
  var a = Array.prototype.slice.call(arguments); a.unshift(m); analytics.push(a); return analytics; }; };
["identify", "track", "page"].forEach(function (m) { analytics[m] = analytics.factory(m); });
analytics._writeKey = %(key)s;
analytics._cdn = %(cdn)s;
analytics.identify("u-cio", {plan: "pro"});
analytics.track("Order Completed", {total: 30, currency: "USD"});
analytics.page("Docs", "Intro", {path: "/docs"});
</script><script src="/sdk.js"></script>"""


@pytest.fixture
def browser_profile(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "profile"


def test_customerio_browser_library_reads_its_integration_and_sends_to_segdbg(
    server: ServerThread, browser_profile: Path
) -> None:
    """Settings asked under ``/cdp.customer.io/v1/projects/K/settings`` name only ``Customer.io Data
    Pipelines`` with segdbg as its API host; the library then delivers identify, track and page here."""
    assert CUSTOMERIO.is_file(), "the real JavaScript clients are missing: run `npm ci --prefix tests/node`"
    key = "cio-browser"
    cdn = f"{server.url}/cdp.customer.io"
    page = PAGE % {"key": orjson.dumps(key).decode(), "cdn": orjson.dumps(cdn).decode()}
    with PageServer(page, CUSTOMERIO) as shop:
        with browsing(f"http://127.0.0.1:{shop.port}/", browser_profile, *LOOPBACK_ONLY) as chromium:
            stored = until_stored(server.settings.db, 3, timeout=40)
    rows = requests_rows(server.settings.db)
    assert (rows[0]["kind"], rows[0]["path"]) == ("settings", f"/cdp.customer.io/v1/projects/{key}/settings"), (
        [(r["kind"], r["path"]) for r in rows],
        chromium.log,
    )
    assert sorted((e["type"], e["name"], e["write_key"], e["status"]) for e in stored) == [
        ("identify", None, key, "ok"),
        ("page", "Intro", key, "ok"),
        ("track", "Order Completed", key, "ok"),
    ], chromium.log
    track = next(e for e in stored if e["type"] == "track")
    assert track["stored"]["properties"] == {"total": 30, "currency": "USD"}
    assert track["stored"]["context"]["library"]["name"] == "analytics.js"
