"""Segment's own hosts, and what intercept mode does with a host (docs/intercept.md). No I/O.

The one list of the hosts `segdbg serve --intercept` terminates TLS for and answers itself; every
other host is passed through untouched or refused. The list also tells the settings answer
(docs/protocol.md §1.5) which API host a Segment CDN host belongs to, so analytics.js loaded through
the proxy sends its events to Segment's API host, which the proxy captures too.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

#: Segment's ingest (Tracking API) hosts: US, then the EU region (D-HTTP).
API_HOST, EU_API_HOST = "api.segment.io", "events.eu1.segmentapis.com"
#: Segment's CDN hosts, each with the API host its settings point at: analytics.js's settings and
#: bundles (``cdn.segment.com``), the mobile libraries' settings (``cdn-settings.segment.com``), and
#: the EU region's CDN.
CDN_HOSTS = MappingProxyType(
    {"cdn.segment.com": API_HOST, "cdn-settings.segment.com": API_HOST, "cdn.eu1.segmentcdn.com": EU_API_HOST}
)
#: Segment's own hosts.
SEGMENT_HOSTS = frozenset({API_HOST, EU_API_HOST, *CDN_HOSTS})
#: CDPs whose browser library is a fork of analytics-next (docs/protocol.md §12): each host (settings,
#: scripts and events on one host) → the integration the fork reads its API host from in the settings.
CDP_FORKS = MappingProxyType(
    {"cdp.customer.io": "Customer.io Data Pipelines", "cdp-eu.customer.io": "Customer.io Data Pipelines"}
)
#: Every host intercept mode answers itself: Segment's and the CDP forks'.
INTERCEPTED_HOSTS = SEGMENT_HOSTS | CDP_FORKS.keys()
#: The hosts whose files (scripts, bundles) intercept mode fetches from the real host and passes back.
FILE_HOSTS = frozenset({*CDN_HOSTS, *CDP_FORKS})

#: What the proxy does with a request for a host (:func:`decide`).
INTERCEPT, PASS, REFUSE = "intercept", "pass", "refuse"
#: The choices for every host not in :data:`SEGMENT_HOSTS` (``--intercept-others``).
OTHERS = (PASS, REFUSE)


def host_name(authority: str) -> str:
    """The host of ``host[:port]`` or ``[v6]:port``, lower-case, without a trailing dot."""
    text = authority.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else ""
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".")


def is_intercepted(authority: str) -> bool:
    """Whether ``authority`` (``host[:port]``) is one of the hosts intercept mode answers itself."""
    return host_name(authority) in INTERCEPTED_HOSTS


def decide(authority: str, others: str) -> str:
    """What intercept mode does with a request for ``authority``: :data:`INTERCEPT` for Segment's
    hosts and the CDP forks', else ``others`` (:data:`PASS` or :data:`REFUSE`)."""
    return INTERCEPT if is_intercepted(authority) else others


def settings_api(authority: str) -> tuple[str, str] | None:
    """For a settings request addressed to one of the intercepted hosts, the ``(apiHost, protocol)`` its
    answer names: the Segment API host of that region (a CDP fork's own host), over https (the real
    API is https only, and the proxy intercepts it). ``None`` for any other host: the answer then
    points at the host asked."""
    host = host_name(authority)
    if host in CDN_HOSTS:
        return f"{CDN_HOSTS[host]}/v1", "https"
    if host in INTERCEPTED_HOSTS:
        return f"{host}/v1", "https"
    return None


#: The longest request head (request line and headers) the proxy reads before answering 431.
MAX_HEAD = 65536


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """The first request on a proxy connection.

    Attributes:
        method: ``CONNECT`` or the plain HTTP method.
        authority: ``host:port`` asked for (the port defaulted from the scheme when absent).
        tunnel: a ``CONNECT`` (the bytes that follow are the client's, TLS for an https URL).
    """

    method: str
    authority: str
    tunnel: bool

    @property
    def host(self) -> str:
        """The host asked for, without the port."""
        return host_name(self.authority)

    @property
    def port(self) -> int:
        """The port asked for."""
        tail = self.authority.rsplit(":", 1)[-1]
        return int(tail) if tail.isdigit() else 443 if self.tunnel else 80


def parse_proxy_head(head: bytes) -> ProxyRequest | str:
    """Read a proxy request head (up to and including the blank line): a ``CONNECT host:port``, or an
    absolute-form ``GET http://host/path``. Returns the request, or why it cannot be proxied."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return "not an HTTP request"
    line, _, _ = text.partition("\r\n")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return "not an HTTP/1.x request line"
    method, target, _ = parts
    if method.upper() == "CONNECT":
        authority = target
        if not _valid_authority(authority) or ":" not in authority.rsplit("]", 1)[-1]:
            return "CONNECT needs host:port"
        return ProxyRequest("CONNECT", authority.lower(), True)
    lowered = target.lower()
    for scheme, port in (("http://", 80), ("https://", 443)):
        if lowered.startswith(scheme):
            authority = lowered[len(scheme) :].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
            if not _valid_authority(authority):
                return "no host in the request target"
            if ":" not in authority.rsplit("]", 1)[-1]:
                authority = f"{authority}:{port}"
            return ProxyRequest(method, authority, False)
    return "a proxy request names an absolute URL (http://host/path) or is a CONNECT"


def _valid_authority(authority: str) -> bool:
    host = host_name(authority)
    port = authority.rsplit("]", 1)[-1].rpartition(":")[2] if ":" in authority.rsplit("]", 1)[-1] else "1"
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789.-_:")
    return bool(host) and set(host) <= allowed and port.isdigit() and 0 < int(port) < 65536
