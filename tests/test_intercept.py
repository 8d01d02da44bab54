"""Intercept mode (docs/intercept.md): `segdbg serve --intercept` captures Segment's own hosts through a
local proxy, with TLS from a local CA, exactly as the direct endpoint does; every other host is tunnelled
byte for byte or refused, never recorded. Everything runs on loopback: the proxies here may dial only
loopback addresses (tests/conftest.py), and Segment's hosts are answered by segdbg itself.
"""

from __future__ import annotations

import gzip
import os
import re
import socket
import ssl
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver
from click.testing import CliRunner
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st
from segment.analytics.client import Client as SegmentClient

from debugger.cli import cli
from debugger.cli.options import CA_DIR_ENV, resolve_ca_dir
from debugger.core.http.hosts import (
    INTERCEPT,
    PASS,
    REFUSE,
    SEGMENT_HOSTS,
    ProxyRequest,
    decide,
    parse_proxy_head,
    settings_api,
)
from debugger.core.http.model import IncomingRequest
from debugger.core.http.routes import settings_body
from debugger.server.app import ServerThread
from debugger.server.ca import CertificateAuthority
from debugger.server.intercept import InterceptProxy
from debugger.server.keys import intercept_key
from debugger.server.settings import DIAL_LOOPBACK, DIAL_NONE, Intercept, Settings
from debugger.server.upstream import relay, relayed
from tests.helpers import ServeProcess, events, requests_rows, run_segdbg

DEADLINE = 10.0


def _proxy(server: ServerThread) -> InterceptProxy:
    assert server.app is not None
    return server.app[intercept_key]


@pytest.fixture
def intercepting(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    """A real segdbg with its intercept proxy on free loopback ports, the CA in tmp_path, dialling loopback only."""
    others = getattr(request, "param", PASS)
    config = Intercept(ca_dir=tmp_path / "ca", port=0, others=others, dial=DIAL_LOOPBACK)
    with ServerThread(Settings(db=tmp_path / "capture.db", port=0, intercept=config)) as server:
        yield server


def _connect(port: int, target: str) -> tuple[socket.socket, bytes]:
    """Open a proxy connection, send ``CONNECT target``, return the socket and the proxy's answer head."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# The pure part: which hosts are Segment's, what the settings answer names, what a proxy head says.


def test_only_segments_hosts_are_intercepted_and_the_rest_follow_the_flag() -> None:
    """api.segment.io, the CDN, the EU hosts and the CDP forks' hosts are intercepted (any port, any case);
    others pass or are refused."""
    for host in SEGMENT_HOSTS | {"cdp.customer.io", "cdp-eu.customer.io"}:
        assert decide(f"{host.upper()}:443", PASS) == INTERCEPT
    assert decide("cdn.segment.com.:443", REFUSE) == INTERCEPT
    assert decide("example.com:443", PASS) == PASS
    assert decide("api.segment.io.evil.com:443", REFUSE) == REFUSE
    assert decide("127.0.0.1:8088", REFUSE) == REFUSE


def test_settings_asked_as_a_segment_cdn_point_analytics_js_at_segments_api_host() -> None:
    """docs/protocol.md §1.5: through the proxy, the CDN's settings name the region's API host over https."""

    def answer(host: str, scheme: str = "https") -> Any:
        request = IncomingRequest(
            "GET", "/v1/projects/WK/settings", "", (), (("Host", host),), b"", "127.0.0.1", scheme=scheme
        )
        return orjson.loads(settings_body("WK", request))["integrations"]["Segment.io"]

    assert settings_api("cdn.segment.com") == ("api.segment.io/v1", "https")
    # A CDP fork's host (docs/protocol.md §12): its own integration, its own host as API host.
    fork = IncomingRequest("GET", "/v1/projects/WK/settings", "", (), (("Host", "cdp.customer.io"),), b"", "127.0.0.1")
    assert orjson.loads(settings_body("WK", fork))["integrations"] == {
        "Customer.io Data Pipelines": {**answer("api.segment.io"), "apiHost": "cdp.customer.io/v1"}
    }
    for cdn, api in [
        ("cdn.segment.com", "api.segment.io/v1"),
        ("cdn-settings.segment.com", "api.segment.io/v1"),
        ("cdn.eu1.segmentcdn.com", "events.eu1.segmentapis.com/v1"),
        ("api.segment.io", "api.segment.io/v1"),
    ]:
        assert (answer(cdn, scheme="http")["apiHost"], answer(cdn, scheme="http")["protocol"]) == (api, "https")
    assert (answer("127.0.0.1:8088", "http")["apiHost"], answer("127.0.0.1:8088", "http")["protocol"]) == (
        "127.0.0.1:8088/v1",
        "http",
    )


def test_proxy_heads_are_read_or_refused_with_a_reason() -> None:
    """CONNECT host:port and absolute-form URLs are proxy requests; anything else says why not."""
    assert parse_proxy_head(b"CONNECT api.segment.io:443 HTTP/1.1\r\n\r\n") == ProxyRequest(
        "CONNECT", "api.segment.io:443", True
    )
    plain = parse_proxy_head(b"POST http://API.segment.io/v1/batch HTTP/1.1\r\nHost: api.segment.io\r\n\r\n")
    assert plain == ProxyRequest("POST", "api.segment.io:80", False)
    assert isinstance(plain, ProxyRequest) and (plain.host, plain.port) == ("api.segment.io", 80)
    assert isinstance(parse_proxy_head(b"GET /v1/batch HTTP/1.1\r\n\r\n"), str)
    assert isinstance(parse_proxy_head(b"CONNECT api.segment.io HTTP/1.1\r\n\r\n"), str)
    assert isinstance(parse_proxy_head(b"CONNECT a b:1 HTTP/1.1\r\n\r\n"), str)
    assert isinstance(parse_proxy_head(b"\x16\x03\x01garbage\r\n\r\n"), str)


# 1. The real segment-analytics-python, unmodified, through the proxy.


def test_segment_analytics_python_with_https_proxy_delivers_to_segdbg(
    intercepting: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Default host https://api.segment.io, HTTPS_PROXY and REQUESTS_CA_BUNDLE set: every call is stored as
    sent, with no error and no retry; each request is recorded like a direct one."""
    proxy = _proxy(intercepting)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(proxy.ca.cert_path))
    errors: list[Exception] = []
    client = SegmentClient("wk_intercept", on_error=lambda e, batch: errors.append(e), max_retries=3, sync_mode=True)
    assert client.host is None or "api.segment.io" in str(client.host)  # unmodified: Segment's own host
    sent = [
        client.identify("u-1", {"plan": "pro"}),
        client.track("u-1", "Order Completed", {"total": 30, "currency": "USD"}),
        client.page("u-1", "Docs", "Intro", {"path": "/docs"}),
    ]
    client.flush()
    assert errors == []
    stored = events(intercepting.settings.db)
    assert [e["message_id"] for e in stored] == [message["messageId"] for _, message in sent]
    assert all(e["write_key"] == "wk_intercept" and e["status"] == "ok" for e in stored)
    assert [e["raw"]["properties"] for e in stored if e["type"] != "identify"] == [
        {"total": 30, "currency": "USD"},
        {"path": "/docs"},
    ]
    requests = requests_rows(intercepting.settings.db)  # sync_mode: one request per call, none retried
    assert len(requests) == len(sent)
    for request in requests:
        headers = {k.lower(): v for k, v in request["headers"]}
        assert (request["path"], request["status"], headers["host"]) == ("/v1/batch", 200, "api.segment.io")


def test_settings_through_the_proxy_point_at_the_real_api_host(intercepting: ServerThread) -> None:
    """GET https://cdn.segment.com/v1/projects/K/settings through the proxy: segdbg answers it (recorded as a
    settings request) and names https://api.segment.io/v1; plain http://cdn.segment.com works the same."""
    proxy = _proxy(intercepting)
    assert proxy.port is not None
    sock, head = _connect(proxy.port, "cdn.segment.com:443")
    assert head.startswith(b"HTTP/1.1 200 ")
    context = ssl.create_default_context(cafile=str(proxy.ca.cert_path))
    with context.wrap_socket(sock, server_hostname="cdn.segment.com") as tls:
        tls.sendall(b"GET /v1/projects/K1/settings HTTP/1.1\r\nHost: cdn.segment.com\r\nConnection: close\r\n\r\n")
        answer = _read_all(tls)
    assert answer.startswith(b"HTTP/1.1 200 ")
    ours = orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["integrations"]["Segment.io"]
    assert (ours["apiKey"], ours["apiHost"], ours["protocol"]) == ("K1", "api.segment.io/v1", "https")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=DEADLINE) as plain:
        plain.sendall(
            b"GET http://cdn.segment.com/v1/projects/K2/settings HTTP/1.1\r\nHost: cdn.segment.com\r\n"
            b"Connection: close\r\n\r\n"
        )
        answer = _read_all(plain)
    assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["integrations"]["Segment.io"]["apiHost"] == "api.segment.io/v1"
    assert [(r["kind"], r["write_key"]) for r in requests_rows(intercepting.settings.db)] == [
        ("settings", "K1"),
        ("settings", "K2"),
    ]


def test_cdn_files_segdbg_does_not_answer_go_upstream_only_as_the_dial_policy_allows(
    intercepting: ServerThread,
) -> None:
    """analytics.min.js on the CDN is not segdbg's to answer: it is fetched upstream, and with the tests'
    loopback-only policy that fetch is refused (502 naming the policy); it is never recorded."""
    proxy = _proxy(intercepting)
    assert proxy.port is not None
    sock, _ = _connect(proxy.port, "cdn.segment.com:443")
    context = ssl.create_default_context(cafile=str(proxy.ca.cert_path))
    with context.wrap_socket(sock, server_hostname="cdn.segment.com") as tls:
        tls.sendall(
            b"GET /analytics.js/v1/K/analytics.min.js HTTP/1.1\r\nHost: cdn.segment.com\r\nConnection: close\r\n\r\n"
        )
        answer = _read_all(tls)
    assert answer.startswith(b"HTTP/1.1 502 ")
    assert b"dial-out policy (loopback) forbids connecting to cdn.segment.com" in answer
    assert requests_rows(intercepting.settings.db) == []


# 3. Foreign hosts: a byte-for-byte tunnel, or refused; never recorded.


class _Foreign:
    """A loopback server that is not a Segment host: records what it gets, answers its own bytes."""

    def __init__(self, reply: bytes, expect: int) -> None:
        self.reply, self.expect = reply, expect
        self.received = b""
        self.connections = 0
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.05)
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                conn, _ = self.listener.accept()
                break
            except TimeoutError:
                if self.stopping.is_set() or time.monotonic() > deadline:
                    return
            except OSError:
                return
        self.connections += 1
        with conn:
            conn.settimeout(DEADLINE)
            while len(self.received) < self.expect:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                self.received += chunk
            conn.sendall(self.reply)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(DEADLINE)
        self.listener.close()


def test_a_foreign_host_is_tunnelled_byte_for_byte_and_never_recorded(intercepting: ServerThread) -> None:
    """CONNECT to a loopback server that is not Segment's: what the client sends arrives unchanged, what
    the server answers comes back unchanged (binary, TLS-looking, HTTP-looking bytes alike), nothing is stored."""
    proxy = _proxy(intercepting)
    assert proxy.port is not None
    up = b"\x16\x03\x01" + os.urandom(70000) + b"POST /v1/batch HTTP/1.1\r\n\r\n"
    down = os.urandom(90000) + b"HTTP/1.1 200 OK\r\n\r\n"
    foreign = _Foreign(down, len(up))
    try:
        sock, head = _connect(proxy.port, f"127.0.0.1:{foreign.port}")
        with sock:
            assert head == b"HTTP/1.1 200 Connection Established\r\n\r\n"
            sock.sendall(up)
            got = b""
            deadline = time.monotonic() + DEADLINE
            while len(got) < len(down) and time.monotonic() < deadline:
                got += sock.recv(65536)
    finally:
        foreign.close()
    assert (foreign.received, got) == (up, down)
    assert requests_rows(intercepting.settings.db) == [] and events(intercepting.settings.db) == []


def test_a_plain_http_request_for_a_foreign_host_is_passed_on_unchanged(intercepting: ServerThread) -> None:
    """An absolute-form request for another host reaches it exactly as sent (head and body), not recorded."""
    proxy = _proxy(intercepting)
    assert proxy.port is not None
    foreign = _Foreign(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", 0)
    body = b'{"batch":[{"type":"track","event":"X","userId":"u"}]}'
    sent = (
        f"POST http://127.0.0.1:{foreign.port}/v1/batch HTTP/1.1\r\nHost: 127.0.0.1:{foreign.port}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    foreign.expect = len(sent)
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=DEADLINE) as sock:
            sock.sendall(sent)
            answer = _read_all(sock)
    finally:
        foreign.close()
    assert foreign.received == sent and answer.startswith(b"HTTP/1.1 204 ")
    assert requests_rows(intercepting.settings.db) == []


@pytest.mark.parametrize("intercepting", [REFUSE], indirect=True)
def test_with_intercept_others_refuse_a_foreign_host_is_refused_and_never_dialled(intercepting: ServerThread) -> None:
    """--intercept-others refuse: a CONNECT to another host is answered 403 and that host gets no connection;
    Segment's hosts are still intercepted."""
    proxy = _proxy(intercepting)
    assert proxy.port is not None
    foreign = _Foreign(b"never", 1)
    try:
        sock, head = _connect(proxy.port, f"127.0.0.1:{foreign.port}")
        sock.close()
    finally:
        foreign.close()
    assert head.startswith(b"HTTP/1.1 403 ") and foreign.connections == 0
    sock, segment = _connect(proxy.port, "api.segment.io:443")
    sock.close()
    assert segment.startswith(b"HTTP/1.1 200 ")
    assert requests_rows(intercepting.settings.db) == []


def test_the_dial_out_policy_keeps_the_proxy_off_the_network(tmp_path: Path) -> None:
    """With dial `loopback` (the suite's) a foreign name is refused without a lookup; with `none`, even loopback."""
    for dial, target in ((DIAL_LOOPBACK, "example.com:443"), (DIAL_NONE, "127.0.0.1:9")):
        config = Intercept(ca_dir=tmp_path / "ca", port=0, dial=dial)
        with ServerThread(Settings(db=tmp_path / f"{dial}.db", port=0, intercept=config)) as server:
            port = _proxy(server).port
            assert port is not None
            sock, head = _connect(port, target)
            sock.close()
        assert head.startswith(b"HTTP/1.1 502 ") and f"dial-out policy ({dial})".encode() in head + _tail(head)


def _tail(head: bytes) -> bytes:
    return head.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in head else b""


# 4. The CA: private, persistent, and the leaves it signs are valid for their host.


def test_the_ca_key_is_private_persists_and_signs_valid_leaves(tmp_path: Path) -> None:
    """ca-key.pem is 0600 in a 0700 directory; a second start loads the same CA; a leaf is valid for its
    host only, chained to the CA, and a TLS client that trusts the CA accepts it through the proxy."""
    directory = tmp_path / "config" / "segdbg" / "ca"
    first = CertificateAuthority(directory).ensure()
    assert stat.S_IMODE(os.stat(directory / "ca-key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert sorted(p.name for p in directory.iterdir()) == ["ca-key.pem", "ca.pem"]
    again = CertificateAuthority(directory)
    assert again.ensure() == first
    leaf = x509.load_pem_x509_certificate(again.leaf("api.segment.io")[0])
    leaf.verify_directly_issued_by(first)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["api.segment.io"]
    config = Intercept(ca_dir=directory, port=0, dial=DIAL_LOOPBACK)
    with ServerThread(Settings(db=tmp_path / "c.db", port=0, intercept=config)) as server:
        proxy = _proxy(server)
        assert proxy.port is not None and proxy._server is not None
        assert proxy._server.sockets[0].getsockname()[0] == "127.0.0.1"
        context = ssl.create_default_context(cafile=str(directory / "ca.pem"))
        sock, _ = _connect(proxy.port, "events.eu1.segmentapis.com:443")
        with context.wrap_socket(sock, server_hostname="events.eu1.segmentapis.com") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        sock, _ = _connect(proxy.port, "api.segment.io:443")
        with pytest.raises(ssl.SSLCertVerificationError), context.wrap_socket(sock, server_hostname="cdn.segment.com"):
            pass  # the leaf for api.segment.io is not valid for another name
        sock.close()
    assert sorted(p.name for p in directory.iterdir()) == ["ca-key.pem", "ca.pem"]  # no leaf key left behind


def test_segdbg_ca_prints_the_path_and_how_to_trust_it(tmp_path: Path) -> None:
    """`segdbg ca --path` creates the CA on first use and prints its certificate's path; `--install-hint`
    covers Python, Node, Chromium, Android and iOS with that path."""
    directory = tmp_path / "ca"
    result = run_segdbg("ca", "--path", "--ca-dir", str(directory))
    assert (result.returncode, result.stdout) == (0, f"{directory / 'ca.pem'}\n")
    hint = run_segdbg("ca", "--install-hint", SEGDBG_CA_DIR=str(directory))
    assert hint.returncode == 0
    for needle in ("REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "certutil", "--proxy-server", "adb", "simctl"):
        assert needle in hint.stdout, needle
    assert str(directory / "ca.pem") in hint.stdout


def test_serve_intercept_binds_loopback_and_refuses_remote_without_allow_remote(tmp_path: Path) -> None:
    """`segdbg serve --intercept 0` starts the proxy on 127.0.0.1 and says where; a non-loopback --host
    without --allow-remote is a usage error, proxy or not."""
    refused = run_segdbg("serve", "--headless", "--host", "0.0.0.0", "--intercept", "--db", str(tmp_path / "r.db"))
    assert refused.returncode == 2 and "--allow-remote" in refused.stderr
    serve = ServeProcess(tmp_path / "c.db", "--intercept", "0", "--intercept-others", "refuse")
    try:
        deadline = time.monotonic() + DEADLINE
        found = None
        while time.monotonic() < deadline and found is None:
            found = re.search(
                r"Intercept proxy on http://127.0.0.1:(\d+) .*; CA (\S+) ", Path(serve._stderr.name).read_text()
            )
            time.sleep(0.02)
        assert found is not None
        sock, head = _connect(int(found.group(1)), "cdn.segment.com:443")
        context = ssl.create_default_context(cafile=found.group(2))
        with context.wrap_socket(sock, server_hostname="cdn.segment.com") as tls:
            tls.sendall(b"GET /v1/projects/K/settings HTTP/1.1\r\nHost: cdn.segment.com\r\nConnection: close\r\n\r\n")
            answer = _read_all(tls)
    finally:
        code, _, err = serve.stop()
    assert code == 0 and "others: refuse" in err, err
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"apiHost":"api.segment.io/v1"' in answer
    assert [r["kind"] for r in requests_rows(tmp_path / "c.db")] == ["settings"]


class _Loopback(AbstractResolver):
    """Resolves every name to a loopback port: the test's stand-in for Segment's CDN."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        return [
            {"hostname": host, "host": "127.0.0.1", "port": self.port, "family": socket.AF_INET, "proto": 0, "flags": 0}
        ]

    async def close(self) -> None:
        pass


async def test_a_cdn_file_is_relayed_as_the_cdn_answered_it(tmp_path: Path) -> None:
    """What the CDN answers for a file segdbg does not serve (status, headers, gzip bytes) is passed back
    unchanged, the request's own headers go upstream, and nothing is recorded; here the "CDN" is a
    loopback https server with a certificate from the test's CA."""
    ca = CertificateAuthority(tmp_path / "ca")
    script = gzip.compress(b"window.analytics = 'the real bundle';" * 50)
    seen: dict[str, str] = {}

    async def cdn_file(request: web.Request) -> web.Response:
        seen.update(request.headers)
        seen["path"] = request.path_qs
        return web.Response(
            body=script, headers={"Content-Encoding": "gzip", "Content-Type": "text/javascript", "ETag": '"v1"'}
        )

    cdn = web.Application()
    cdn.router.add_get("/{tail:.*}", cdn_file)
    cdn_runner = web.AppRunner(cdn)
    await cdn_runner.setup()
    site = web.TCPSite(cdn_runner, "127.0.0.1", 0, ssl_context=ca.context("cdn.segment.com"))
    await site.start()
    cdn_port = cdn_runner.addresses[0][1]
    trusted = ssl.create_default_context(cafile=str(ca.cert_path))
    upstream = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=_Loopback(cdn_port), ssl=trusted), auto_decompress=False
    )

    async def handler(request: web.Request) -> web.StreamResponse:
        assert relayed(request)
        return await relay(request, upstream)

    front = web.Application()
    front.router.add_get("/{tail:.*}", handler)
    front_runner = web.AppRunner(front, auto_decompress=False)
    await front_runner.setup()
    front_site = web.TCPSite(front_runner, "127.0.0.1", 0)
    await front_site.start()
    try:
        url = f"http://127.0.0.1:{front_runner.addresses[0][1]}/analytics.js/v1/K/analytics.min.js?v=1"
        async with (
            aiohttp.ClientSession(auto_decompress=False) as client,
            client.get(
                url, headers={"Host": "cdn.segment.com", "Accept-Encoding": "gzip", "Proxy-Authorization": "x"}
            ) as reply,
        ):
            body = await reply.read()
            headers = reply.headers.copy()
    finally:
        await upstream.close()
        await front_runner.cleanup()
        await cdn_runner.cleanup()
    assert (reply.status, body, headers["Content-Encoding"], headers["ETag"]) == (200, script, "gzip", '"v1"')
    assert seen["path"] == "/analytics.js/v1/K/analytics.min.js?v=1" and seen["Host"] == "cdn.segment.com"
    assert seen["Accept-Encoding"] == "gzip" and "Proxy-Authorization" not in seen


@given(st.binary(max_size=300))
def test_any_bytes_as_a_proxy_head_are_read_or_refused_never_raised(head: bytes) -> None:
    """Whatever a client sends first, the proxy gets a request or a reason, never an exception."""
    result = parse_proxy_head(head + b"\r\n\r\n")
    assert isinstance(result, str | ProxyRequest)
    if isinstance(result, ProxyRequest):
        assert 0 < result.port < 65536 and result.host


def test_the_ca_lives_in_the_users_config_dir_unless_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--ca-dir, then $SEGDBG_CA_DIR, then $XDG_CONFIG_HOME/segdbg/ca, then ~/.config/segdbg/ca."""
    monkeypatch.delenv(CA_DIR_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert resolve_ca_dir(None) == tmp_path / "home" / ".config" / "segdbg" / "ca"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert resolve_ca_dir(None) == tmp_path / "xdg" / "segdbg" / "ca"
    monkeypatch.setenv(CA_DIR_ENV, str(tmp_path / "moved"))
    assert resolve_ca_dir(None) == tmp_path / "moved"
    assert resolve_ca_dir(tmp_path / "given") == tmp_path / "given"


def test_in_a_terminal_the_tui_says_where_the_proxy_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the TUI the server's own lines are not on the screen: the start-up notice names the proxy's address
    (what HTTPS_PROXY is set to) and how to trust the CA."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr("debugger.cli.commands.serve.terminal", lambda: True)
    monkeypatch.setattr(
        "debugger.cli.commands.serve._serve_with_tui",
        lambda settings, cap, plan, notice, *forward: seen.update(settings=settings, notice=notice),
    )
    args = ["serve", "--db", str(tmp_path / "c.db"), "--intercept", "--ca-dir", str(tmp_path / "ca")]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert seen["notice"] == (
        "Intercept proxy on http://127.0.0.1:8090 for Segment's hosts (HTTPS_PROXY=http://127.0.0.1:8090); "
        "trust its CA: segdbg ca --install-hint."
    )
    assert seen["settings"].intercept.port == 8090
