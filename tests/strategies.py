"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from debugger.core import protocol
from debugger.core.query import language as q

# Characters that exercise the lexer: quotes, escapes, separators, wildcards, operators, unicode.
QUERY_ALPHABET = 'ab Zé:.,*"\\-<>=_ \t$@/1'

_text = st.text(alphabet='aZé:.,*"\\-<>= _$@/1\t', min_size=0, max_size=8)
_word = st.text(alphabet="abcXYZ_0123", min_size=1, max_size=6)
_segment = st.one_of(_word, st.text(alphabet='ab .:,*"\\-é', min_size=1, max_size=5))


def _pattern_pieces(draw_pieces: list[str | q.Wildcard]) -> q.Pattern:
    """Merge neighbours the way the parser does: adjacent text joins, stars collapse, "" only alone."""
    pieces: list[str | q.Wildcard] = []
    for piece in draw_pieces:
        if piece == "":
            continue
        if isinstance(piece, q.Wildcard):
            if not pieces or pieces[-1] is not q.STAR:
                pieces.append(q.STAR)
        elif pieces and isinstance(pieces[-1], str):
            pieces[-1] += piece
        else:
            pieces.append(piece)
    return q.Pattern(tuple(pieces) or ("",))


patterns = st.lists(st.one_of(_text, st.just(q.STAR)), min_size=1, max_size=4).map(_pattern_pieces)
comparisons = st.builds(q.Comparison, st.sampled_from([">", ">=", "<", "<="]), _text.filter(bool))
paths = st.tuples(st.sampled_from(q.ROOTS), st.lists(_segment, max_size=3)).map(lambda t: (t[0], *t[1]))
negated = st.booleans()

text_terms = st.builds(q.TextTerm, _text.filter(bool), negated)
field_terms = st.builds(
    q.FieldTerm,
    st.sampled_from(["event", "user", "source", "lib", "id", "problem"]),
    st.lists(patterns, min_size=1, max_size=3).map(tuple),
    negated,
)
enum_terms = st.one_of(
    st.builds(
        q.FieldTerm,
        st.just("type"),
        st.lists(st.sampled_from(protocol.TYPES).map(lambda t: q.Pattern((t,))), min_size=1, max_size=2).map(tuple),
        negated,
    ),
    st.builds(
        q.FieldTerm,
        st.just("status"),
        st.lists(st.sampled_from(protocol.STATUSES).map(lambda t: q.Pattern((t,))), min_size=1, max_size=2).map(tuple),
        negated,
    ),
    st.builds(
        q.FieldTerm,
        st.just("pinned"),
        st.lists(st.sampled_from(q.BOOLEANS).map(lambda t: q.Pattern((t,))), min_size=1, max_size=2).map(tuple),
        negated,
    ),
)
path_terms = st.builds(
    q.PathTerm, paths, st.lists(st.one_of(patterns, comparisons), min_size=1, max_size=3).map(tuple), negated
)
has_terms = st.builds(q.HasTerm, st.lists(paths, min_size=1, max_size=2).map(tuple), negated)
time_terms = st.builds(
    q.TimeTerm,
    st.sampled_from(["after", "before"]),
    st.sampled_from(["10m", "2h", "1d", "30s", "1w", "2024-05-01", "2024-05-01T12:00:00Z", "2024-05-01 12:00"]),
    negated,
)
terms = st.one_of(text_terms, field_terms, enum_terms, path_terms, has_terms, time_terms)
queries = st.lists(terms, max_size=5).map(lambda ts: q.Query(tuple(ts)))


# --------------------------------------------------------------------------- hostile input
# Messages, batches and whole HTTP requests for fuzzing the running server (test_fuzz.py,
# bench/fuzz.py). Strings lean on what breaks things: NUL, escapes, bidi, surrogates, huge lines.

NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x1b[31mred\x1b[0m",
    "\x1b]52;c;aGk=\x07",
    "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "\u202egnp.exe",
    "\u2066x\u2069",
    "\u2028\u2029",
    "\ufeff",
    "\u200b",
    "[red]markup[/red]",
    "[link=http://evil.example]x[/link]",
    "\ud800",
    "\udfff",
    "🎉",
    "e\u0301" * 50,
    "'; DROP TABLE events; --",
    "%s%n",
    "${jndi:ldap://x}",
    "../../etc/passwd",
    "null",
    "undefined",
    "NaN",
    "9" * 400,
    "x" * 40_000,
]
nasty_text = st.one_of(
    st.sampled_from(NASTY_STRINGS), st.text(max_size=30), st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
)
json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(allow_nan=False, allow_infinity=False), nasty_text
)
json_value = st.recursive(
    json_scalar,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(nasty_text, children, max_size=4),
    max_leaves=16,
)
MESSAGE_FIELDS = [
    "type",
    "userId",
    "anonymousId",
    "event",
    "name",
    "groupId",
    "previousId",
    "messageId",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "context",
    "properties",
    "traits",
    "integrations",
    "writeKey",
]
segment_types = st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "Track", "", "nope"])
fuzz_messages = st.fixed_dictionaries(
    {"type": segment_types, "userId": st.one_of(nasty_text, st.integers(), st.none())},
    optional={f: json_value for f in MESSAGE_FIELDS if f not in ("type", "userId")}
    | {"event": nasty_text, "writeKey": st.sampled_from(["wk", "", "\x00"])},
)
fuzz_batches = st.fixed_dictionaries(
    {"batch": st.lists(st.one_of(fuzz_messages, json_value), max_size=6)},
    optional={
        "writeKey": st.sampled_from(["wk", "other"]),
        "sentAt": json_value,
        "context": json_value,
        "integrations": json_value,
    },
)


def _deep(depth: int) -> bytes:
    return b'{"writeKey":"wk","batch":' + b"[" * depth + b"]" * depth + b"}"


#: Bodies that are not what a client library sends: bytes, broken JSON, bombs, deep nesting.
odd_bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"",
            b"{",
            b"[]",
            b"null",
            b'"str"',
            b"\x00" * 10,
            b"\xff\xfe{}",
            b'{"batch":{}}',
            b'{"a":NaN}',
            b'{"writeKey":"wk","userId":"\\ud800","event":"x"}',
            _deep(300),
            _deep(2000),
            b"{}" * 1000,
            b'{"writeKey":"wk","userId":"u","event":"e","properties":' + b"[" * 200 + b"]" * 200 + b"}",
        ]
    ),
)
ENCODINGS = [
    None,
    "gzip",
    "GZIP",
    "deflate",
    "x-gzip",
    "identity",
    "br",
    "gzip, gzip",
    "identity, gzip",
    "",
    "gzip;q=1",
]
CONTENT_TYPES = [
    None,
    "application/json",
    "text/plain",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    "*/*",
    "\u00e9",
]
METHODS = ["POST", "POST", "POST", "GET", "OPTIONS", "PUT", "DELETE", "PATCH", "HEAD", "PROPFIND", "TRACK", "M-SEARCH"]
PATHS = [
    "/v1/track",
    "/v1/t",
    "/v1/identify",
    "/v1/i",
    "/v1/page",
    "/v1/batch",
    "/v1/b",
    "/v1/import",
    "/v1/m",
    "/v1/pixel/track",
    "/v1/pixel/nope",
    "/v1/projects/wk/settings",
    "/",
    "/v1/",
    "/v1/v1/track",
    "/v1/track/",
    "/v2/track",
    "/healthz",
    "/debugger/api/events",
    "/debugger/api/stats",
    "/debugger/api/reset",
    "/debugger/api/wait?timeout=0",
    "/debugger/api/nope",
    "/favicon.ico",
    "/debugger/api/../api/events",
    "/v1/./track",
    "/debugger/%61pi/stats",
    "/v1/%74rack",
    "/v1/pixel/track?data=%ZZ",
    "/v1/track?%00=%00",
]
# No "." or "%": the test's oracle then sees the same path as aiohttp's router (no dot
# segments to normalise, nothing to percent-decode); PATHS has a few of those for the 5xx check.
_path_segment = st.text(alphabet="abcxyzv1-_~!$&'()*+,;=:@", min_size=1, max_size=12)
fuzz_paths = st.one_of(
    st.sampled_from(PATHS),
    st.lists(_path_segment, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    st.tuples(st.sampled_from(PATHS[:10]), st.text(alphabet="abz=&?%20+", max_size=20)).map(lambda t: f"{t[0]}?{t[1]}"),
)
_header_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789-_", min_size=1, max_size=20)
_header_value = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60
)
_known_headers = st.one_of(
    st.tuples(
        st.just("Authorization"), st.sampled_from(["Basic d2s6", "Basic", "Basic !!!", "Bearer x", "basic d2s=", ""])
    ),
    st.tuples(st.just("Origin"), st.sampled_from(["http://evil.example", "null", "http://localhost:3000", ""])),
    st.tuples(st.just("Host"), st.sampled_from(["evil.example", "127.0.0.1", "localhost:1", "[::1]", "", "a" * 300])),
    st.tuples(st.just("Sec-Fetch-Site"), st.sampled_from(["cross-site", "same-site", "same-origin", "none", "?"])),
    st.tuples(st.just("Cookie"), st.text(alphabet="abc=; ", max_size=50)),
)
fuzz_headers = st.lists(st.one_of(st.tuples(_header_name, _header_value), _known_headers), max_size=8)


_SINGLETONS = frozenset(
    {
        "content-type",
        "max-forwards",
        "etag",
        "user-agent",
        "content-location",
        "server",
        "content-range",
        "transfer-encoding",
        "content-length",
        "host",
    }
)


@st.composite
def fuzz_requests(draw: st.DrawFn) -> dict[str, object]:
    """One HTTP request: method, path, headers, body (maybe compressed), chunked or not."""
    import gzip
    import json
    import zlib

    kind = draw(st.sampled_from(["message", "batch", "odd"]))
    if kind in ("message", "batch"):
        document = draw(fuzz_messages if kind == "message" else fuzz_batches)
        # ensure_ascii writes lone surrogates as \ud800 escapes (what JSON.stringify sends);
        # without it they become CESU-8 bytes that are not UTF-8 at all.
        body = json.dumps(document, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    else:
        body = draw(odd_bodies)
    encoding = draw(st.sampled_from(ENCODINGS))
    if encoding and "gzip" in encoding.lower():
        body = gzip.compress(body)
        if draw(st.booleans()) and len(body) > 4:
            body = body[: draw(st.integers(1, len(body) - 1))]  # truncated stream
    elif encoding == "deflate":
        body = zlib.compress(body)
    headers = draw(fuzz_headers)
    if encoding is not None:
        headers.append(("Content-Encoding", encoding))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    # aiohttp's parser refuses a repeated Host, Content-Type, Content-Length, ... (plain 400):
    # keep the first of each, so the requests reach segdbg.
    seen: set[str] = set()
    unique: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() in _SINGLETONS:
            if name.lower() in seen:
                continue
            seen.add(name.lower())
        unique.append((name, value))
    method = draw(st.sampled_from(METHODS))
    return {
        "method": method,
        "path": draw(fuzz_paths),
        "headers": unique,
        "body": None if method in ("GET", "HEAD") and draw(st.booleans()) else body,
        "chunked": draw(st.booleans()),
    }
