"""What the routes beside ingest answer or carry (PROTOCOL.md §1.2, §1.5): the CDN settings that
point analytics.js at this server, the message a pixel GET carries and the GIF it gets back,
and the text of the home page. No I/O.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from debugger.core.http.bodies import RequestError, decode_json
from debugger.core.http.headers import header

if TYPE_CHECKING:
    from debugger.core.http.wire import IncomingRequest


#: A 43-byte transparent 1×1 GIF, the pixel API's only answer (D-PIXEL).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def settings_body(write_key: str, request: IncomingRequest) -> bytes:
    """The CDN settings that make analytics.js send everything to this server (§1.5)."""
    host = header(request.headers, "x-forwarded-host") or header(request.headers, "host") or "127.0.0.1:8088"
    scheme = (header(request.headers, "x-forwarded-proto") or request.scheme).split(",")[0].strip()
    return orjson.dumps(
        {
            "integrations": {
                "Segment.io": {
                    "apiKey": write_key,
                    "apiHost": f"{host}/v1",
                    "protocol": scheme,
                    "addBundledMetadata": True,
                    "unbundledIntegrations": [],
                    "maybeBundledConfigIds": {},
                    "versionSettings": {"version": "4.4.7", "componentTypes": ["browser"]},
                }
            },
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
        /v1/pixel/<type>, /v1/projects/<writeKey>/settings
"""
