"""The routes (docs/protocol.md §1): which route a method and path name, and what the routes beside
ingest answer or carry (docs/protocol.md §1.2, §1.5): the CDN settings that point analytics.js at this
server, the message a pixel GET carries and the GIF it gets back, and the text of the home page.
No I/O.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from debugger.core.http.bodies import RequestError, decode_json
from debugger.core.http.headers import header
from debugger.core.http.hosts import CDP_FORKS, host_name, settings_api
from debugger.core.http.model import IncomingRequest
from debugger.core.protocol import TYPES

#: Where `segdbg serve` listens unless told otherwise, and the URL clients and commands use then.
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8088
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
#: `segdbg mcp --http`'s default port (docs/agents.md): beside the ingest server's.
DEFAULT_MCP_PORT = 8089
#: `segdbg serve --intercept`'s default proxy port (docs/intercept.md).
DEFAULT_INTERCEPT_PORT = 8090

#: The kinds of route (:attr:`Route.kind`).
MESSAGE, BATCH_ROUTE, METRICS, PIXEL, SETTINGS, SOURCE_CONFIG, HOME, UNKNOWN = (
    "message",
    "batch",
    "metrics",
    "pixel",
    "settings",
    "source_config",
    "home",
    "unknown",
)
#: analytics.js's one-letter paths: ``/v1/t`` is ``/v1/track``.
SHORT_PATHS = {t[0]: t for t in TYPES}

#: The integration analytics.js (and the Segment libraries) read their API host from.
SEGMENT_INTEGRATION = "Segment.io"


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request was sent: ``kind`` plus the message type or write key in the path."""

    kind: str
    type: str | None = None
    write_key: str | None = None
    #: For the settings route: the CDP fork's CDN host named before ``/v1`` (docs/protocol.md §12).
    fork_host: str | None = None


def match_route(method: str, path: str) -> Route:
    """Map a method and path to the docs/protocol.md §1 route it names."""
    clean = path.rstrip("/") or "/"
    parts = clean.split("/")
    if clean == "/":
        return Route(HOME)
    if clean == "/sourceConfig":
        return Route(SOURCE_CONFIG)  # RudderStack's browser SDKs (docs/protocol.md §1.5)
    if len(parts) == 3 and parts[1] == "v1":
        name = parts[2]
        if name in TYPES:
            return Route(MESSAGE, type=name)
        if name in SHORT_PATHS:
            return Route(MESSAGE, type=SHORT_PATHS[name])
        if name in ("batch", "import", "b"):
            return Route(BATCH_ROUTE)
        if name == "m":
            return Route(METRICS)
    if len(parts) == 4 and parts[1:3] == ["beacon", "v1"] and parts[3] == "batch":
        return Route(BATCH_ROUTE)  # RudderStack's sendBeacon: text/plain, the key in ?writeKey=
    if len(parts) == 4 and parts[1:3] == ["v1", "pixel"] and parts[3] in TYPES:
        return Route(PIXEL, type=parts[3])
    if len(parts) == 5 and parts[1:3] == ["v1", "projects"] and parts[4] == "settings":
        return Route(SETTINGS, write_key=parts[3])
    if len(parts) == 6 and parts[1] in CDP_FORKS and parts[2:4] == ["v1", "projects"] and parts[5] == "settings":
        return Route(SETTINGS, write_key=parts[4], fork_host=parts[1])  # a CDP fork's cdnURL (docs/protocol.md §12)
    return Route(UNKNOWN)


#: A 43-byte transparent 1×1 GIF, the pixel API's only answer (D-PIXEL).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def settings_integration(host: str, fork_host: str | None = None) -> str:
    """The one integration the settings answer names: the CDP fork's when asked through its CDN host
    (``fork_host`` from the path, or the request's own host when intercepted), else ``Segment.io``.
    Only one: with two, analytics-next loads device-mode destinations from its CDN (docs/protocol.md §12)."""
    return CDP_FORKS.get(fork_host or host_name(host), SEGMENT_INTEGRATION)


def settings_body(write_key: str, request: IncomingRequest, fork_host: str | None = None) -> bytes:
    """The CDN settings that make analytics.js, or a CDP's fork of it, send everything to this server
    (docs/protocol.md §1.5, §12)."""
    host = (
        header(request.headers, "x-forwarded-host")
        or header(request.headers, "host")
        or f"{DEFAULT_HOST}:{DEFAULT_PORT}"
    )
    scheme = (header(request.headers, "x-forwarded-proto") or request.scheme).split(",")[0].strip()
    # Asked as one of Segment's hosts (intercept mode, docs/intercept.md): name Segment's API host, which
    # the proxy captures too, never the CDN host the settings came from.
    api_host, scheme = settings_api(host) or (f"{host}/v1", scheme)
    ours = {
        "apiKey": write_key,
        "apiHost": api_host,
        "protocol": scheme,
        "addBundledMetadata": True,
        "unbundledIntegrations": [],
        "maybeBundledConfigIds": {},
        "versionSettings": {"version": "4.4.7", "componentTypes": ["browser"]},
    }
    return orjson.dumps(
        {
            "integrations": {settings_integration(host, fork_host): ours},
            "plan": {
                "track": {"__default": {"enabled": True, "integrations": {}}},
                "identify": {"__default": {"enabled": True}},
                "group": {"__default": {"enabled": True}},
            },
            "middlewareSettings": {},
            "enabledMiddleware": {},
            "metrics": {"sampleRate": 0},
            "legacyVideoPluginsEnabled": False,
            "remotePlugins": [],
            "edgeFunction": {},
        }
    )


def source_config_body(write_key: str) -> bytes:
    """What RudderStack's browser SDKs (v1.1 and v3) need from ``GET /sourceConfig`` before they send:
    an enabled source with no destinations; they send to the ``dataPlaneUrl`` they were loaded
    with, this server (docs/protocol.md §1.5)."""
    return orjson.dumps(
        {
            "isHosted": False,
            "source": {
                "id": f"segdbg-{write_key}",
                "name": "segdbg",
                "writeKey": write_key,
                "workspaceId": "segdbg",
                "enabled": True,
                "config": {"statsCollection": {"errors": {"enabled": False}, "metrics": {"enabled": False}}},
                "destinations": [],
            },
        }
    )


def pixel_message(query: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The message a pixel GET carries: base64 ``data`` (standard or URL-safe, any padding)
    or plain query parameters with dotted keys for nesting (D-PIXEL).

    Raises:
        RequestError: ``data`` is not base64 of a JSON object.
    """
    pairs = list(query)
    data = next((v for k, v in pairs if k == "data"), None)
    if data is not None:
        text = data.strip().replace(" ", "+")
        try:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RequestError("invalid_pixel_data", "`data` is not base64.") from exc
        decoded = decode_json(raw)
        if not isinstance(decoded, dict):
            raise RequestError("invalid_pixel_data", "`data` must encode a JSON object.")
        return decoded
    message: dict[str, Any] = {}
    for key, value in pairs:
        target = message
        *parents, leaf = key.split(".")
        for part in parents:
            child = target.get(part)
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        target[leaf] = value
    return message


HOME_TEXT = b"""segdbg is running: a local Segment HTTP Tracking API.

Point a Segment library here, e.g.
  analytics-python:   analytics.host = 'http://<this host>'
  analytics-node:     new Analytics({ writeKey, host: 'http://<this host>' })
  curl:               curl -X POST http://<this host>/v1/track -u WRITE_KEY: \\
                        -d '{"userId":"u1","event":"Signed Up"}'
Routes: /v1/{identify,track,page,screen,group,alias,batch,import}, /v1/{t,p,i,s,g,a,b,m},
        /v1/pixel/<type>, /v1/projects/<writeKey>/settings, /beacon/v1/batch, /sourceConfig
Validate: the same routes under /debug/v1/ (or ?validate=1) also answer with validationMessages.
"""
