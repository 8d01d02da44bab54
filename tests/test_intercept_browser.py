"""Intercept mode with the real analytics.js (@segment/analytics-next's standalone bundle, what Segment's
snippet loads) in headless Chromium started with ``--proxy-server`` (docs/intercept.md): unmodified, it
fetches its settings from https://cdn.segment.com and sends to https://api.segment.io, both through
segdbg's proxy, and every call is stored. The page comes from a loopback server (Chromium never proxies
loopback); the proxy may dial only loopback, and the browser resolves no host, so nothing leaves the machine.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from debugger.server.app import ServerThread
from debugger.server.keys import intercept_key
from debugger.server.settings import DIAL_LOOPBACK, Intercept, Settings
from tests.chromium import LOOPBACK_ONLY, PageServer, browsing, until_stored
from tests.helpers import ROOT, events, requests_rows

pytestmark = pytest.mark.slow

STANDALONE = ROOT / "tests" / "node" / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd" / "standalone.js"
#: Customer.io's fork of analytics-next (docs/protocol.md §12): its settings, scripts and events on cdp.customer.io.
CUSTOMERIO = ROOT / "tests/node/node_modules/@customerio/cdp-analytics-browser/dist/umd/standalone.js"
#: Per library: its bundle, the host its settings come from, the host its events go to.
LIBRARIES = {
    "analytics.js": (STANDALONE, "cdn.segment.com", "api.segment.io"),
    "customer.io": (CUSTOMERIO, "cdp.customer.io", "cdp.customer.io"),
}
#: Segment's snippet, reduced to what the standalone bundle reads: a buffer of calls and the write key.
PAGE = """<!doctype html><title>shop</title><script>
var analytics = window.analytics = [];
analytics.methods = ["track", "identify", "page", "group", "alias", "reset", "ready", "on", "once", "off"];
analytics.factory = function (name) {
  return function () { var args = Array.prototype.slice.call(arguments); args.unshift(name); analytics.push(args); return analytics; };
};
analytics.methods.forEach(function (name) { analytics[name] = analytics.factory(name); });
analytics._writeKey = "wk_intercept_js";
analytics.SNIPPET_VERSION = "5.2.0";
analytics.identify("u-js", {plan: "pro"});
analytics.track("Order Completed", {total: 30, currency: "USD"});
analytics.page("Docs", "Intro", {path: "/docs"});
</script><script src="/sdk.js"></script>"""


def _spki_pin(port: int, host: str, ca: Path) -> str:
    """The base64 SHA-256 of the public key the proxy presents for ``host`` (checked against the CA first),
    for Chromium's ``--ignore-certificate-errors-spki-list``: a throw-away profile trusts exactly these keys."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    with ssl.create_default_context(cafile=str(ca)).wrap_socket(sock, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    spki = (
        x509.load_der_x509_certificate(der).public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.mark.parametrize("library", list(LIBRARIES))
def test_analytics_js_through_the_proxy_loads_settings_from_the_cdn_and_sends_to_segdbg(
    tmp_path: Path, library: str
) -> None:
    """analytics.js with no segdbg-specific option: settings come from https://cdn.segment.com (answered by
    segdbg, naming https://api.segment.io), and identify, track and page arrive through the proxy, stored ok.
    Customer.io's fork likewise from https://cdp.customer.io, whose settings name its own integration."""
    bundle, cdn, api = LIBRARIES[library]
    assert bundle.is_file(), "the real JavaScript clients are missing: run `npm ci --prefix tests/node`"
    config = Intercept(ca_dir=tmp_path / "ca", port=0, dial=DIAL_LOOPBACK)
    with ServerThread(Settings(db=tmp_path / "capture.db", port=0, intercept=config)) as server:
        assert server.app is not None
        proxy = server.app[intercept_key]
        assert proxy.port is not None
        pins = [_spki_pin(proxy.port, host, proxy.ca.cert_path) for host in {cdn, api}]
        with PageServer(PAGE, bundle) as shop:
            proxied = (
                f"--proxy-server=http://127.0.0.1:{proxy.port}",
                f"--ignore-certificate-errors-spki-list={','.join(pins)}",
            )
            with browsing(
                f"http://127.0.0.1:{shop.port}/", tmp_path / "profile", *LOOPBACK_ONLY, extra=proxied
            ) as chromium:
                until_stored(server.settings.db, 3, timeout=40)
        stored = events(server.settings.db)
        requests = requests_rows(server.settings.db)
    hosts = [(r["kind"], {k.lower(): v for k, v in r["headers"]}.get("host")) for r in requests]
    assert hosts[0] == ("settings", cdn), (hosts, chromium.log)
    assert sorted((e["type"], e["name"], e["write_key"], e["status"]) for e in stored) == [
        ("identify", None, "wk_intercept_js", "ok"),
        ("page", "Intro", "wk_intercept_js", "ok"),
        ("track", "Order Completed", "wk_intercept_js", "ok"),
    ], (hosts, chromium.log)
    assert {host for kind, host in hosts if kind != "settings"} == {api}
    track = next(e for e in stored if e["type"] == "track")
    assert track["raw"]["properties"] == {"total": 30, "currency": "USD"}
