"""A small synchronous client for the debugger API (docs/ci.md), beside the API it calls: the CLI's `--url`
(`expect`, `stats`, `reset`, `vacuum`) and the pytest plugin's shared server use it. Standard library and orjson
only, so importing it loads no aiohttp."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import orjson


class Unreachable(Exception):
    """Nothing answered at the URL (connection refused, DNS, timeout)."""


class ApiError(Exception):
    """The server answered with an error: HTTP status, code and message."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.body = body or {}  # the whole error body (an invalid_query's start/end, ...)


def base_url(url: str) -> str:
    """The server root: trailing slashes and a trailing ``/v1`` removed."""
    root = url.rstrip("/")
    return root[:-3] if root.endswith("/v1") else root


def call(
    url: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    post: bool = False,
    timeout: float | None = 30,
    body: dict[str, Any] | None = None,
) -> Any:
    """GET (or POST with a JSON body, empty by default) ``/debugger/api/<path>`` and return the decoded JSON."""
    query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None}, doseq=True)
    target = f"{base_url(url)}/debugger/api/{path}" + (f"?{query}" if query else "")
    request = urllib.request.Request(
        target,
        data=orjson.dumps(body or {}) if post else None,
        method="POST" if post else "GET",
        headers={"Content-Type": "application/json", "User-Agent": "segdbg"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - the user's own URL
            return orjson.loads(answer.read())
    except urllib.error.HTTPError as exc:
        answered = exc.read()
        try:
            data = orjson.loads(answered)
            raise ApiError(exc.code, str(data.get("code", "error")), str(data.get("message", "")), data) from None
        except (orjson.JSONDecodeError, AttributeError):
            raise ApiError(
                exc.code, "http_error", f"{target} answered {exc.code} {exc.reason}; is it a segdbg server?"
            ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"cannot reach {base_url(url)}: {reason}") from None
    except orjson.JSONDecodeError:
        raise ApiError(200, "not_json", f"{target} did not answer JSON; is it a segdbg server?") from None
