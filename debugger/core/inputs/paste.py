"""Pure handling of pasted text: recognise the form, build the HTTP requests a client would
have sent, and run them through :func:`debugger.core.http.wire.handle`, the same core as the server.

Forms: a JSON message, a batch envelope, a JSON array of messages, NDJSON (one message or
batch per line), a curl command, or library calls (:mod:`debugger.core.inputs.calls`). Every request is
authorised with the write key ``paste``, so pasted events are their own source, except a curl
command that names its key (``-u KEY:``, an ``Authorization: Basic`` header, or a ``writeKey`` in
the body): it keeps it, as the request it describes would. Nothing is sent anywhere. Errors are
:class:`PasteError` with a message for the dialog.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

import orjson

from debugger.core.http import model, wire
from debugger.core.http.headers import basic_auth_user
from debugger.core.inputs.calls import CallError, looks_like_calls, parse_calls
from debugger.core.inputs.payloads import body_write_key
from debugger.core.protocol import BATCH, TYPE, TYPES

PASTE_KEY = "paste"
_HEADERS = (
    ("Authorization", "Basic " + base64.b64encode(f"{PASTE_KEY}:".encode()).decode()),
    ("Content-Type", "application/json"),
    ("User-Agent", "segdbg-paste"),
)
#: curl options that take a value segdbg has no use for.
_CURL_SKIP_VALUE = {
    "-o",
    "--output",
    "-m",
    "--max-time",
    "--connect-timeout",
    "-w",
    "--write-out",
    "-b",
    "--cookie",
    "-e",
    "--referer",
    "--retry",
    "-x",
    "--proxy",
    "--cacert",
    "--cert",
    "--key",
    "-c",
    "--cookie-jar",
    "--resolve",
    "--connect-to",
    "-T",
    "--upload-file",
}
_CURL_DATA = {"-d", "--data", "--data-raw", "--data-binary", "--data-ascii", "--json"}
_CURL_VALUE = {"-X", "--request", "-H", "--header", "--url", "-A", "--user-agent"} | _CURL_DATA | _CURL_SKIP_VALUE


class PasteError(ValueError):
    """The text cannot be stored; ``message`` says why (and where) in a sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Pasted:
    """What a paste became: its form, the requests' outcomes (events to store), and notes."""

    form: str
    outcomes: tuple[model.Outcome, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def event_count(self) -> int:
        """How many events the paste stores."""
        return sum(len(o.events) for o in self.outcomes)


def handle(text: str, *, received_at: datetime, new_id: Callable[[], str]) -> Pasted:
    """Recognise ``text``, validate it with the HTTP core, and say what to store.

    Raises:
        PasteError: the text is none of the forms, or the server would reject a request.
    """
    form, requests, notes = recognise(text)
    outcomes = []
    for origin, request in requests:
        outcome = wire.handle(request, received_at=received_at, new_id=new_id)
        if outcome.reply.status != 200:
            detail = orjson.loads(outcome.reply.body) if outcome.reply.body.startswith(b"{") else {}
            where = f"{origin}: " if origin else ""
            raise PasteError(
                f"{where}the server would answer {outcome.reply.status} "
                f"({detail.get('code', 'error')}): {detail.get('message', '')}".rstrip(": ")
            )
        outcomes.append(outcome)
    return Pasted(form, tuple(outcomes), notes)


def recognise(text: str) -> tuple[str, list[tuple[str, model.IncomingRequest]], tuple[str, ...]]:
    """The form of ``text`` and the requests that carry it (each with a label for errors)."""
    stripped = text.strip()
    if not stripped:
        raise PasteError("Nothing to paste: the text is empty.")
    if stripped.startswith(("curl ", "curl\\")):
        request, note = _curl(stripped)
        return "curl command", [("", request)], (note,)
    try:
        document = orjson.loads(stripped)
    except orjson.JSONDecodeError as whole_error:
        lines = [(n, line) for n, line in enumerate(stripped.splitlines(), start=1) if line.strip()]
        if len(lines) > 1 and lines[0][1].lstrip().startswith("{"):
            return _ndjson(lines)
        if looks_like_calls(stripped):
            return _calls(stripped)
        if stripped[0] in "{[":
            raise PasteError(
                f"Not valid JSON: {whole_error.msg} at line {whole_error.lineno}, column {whole_error.colno}."
            ) from whole_error
        raise PasteError(
            "Not a form segdbg reads. Paste a JSON message, a batch, NDJSON, a curl command, "
            'or a call such as analytics.track("Signed Up", { plan: "pro" }).'
        ) from whole_error
    form, request, notes = _document(document, stripped.encode())
    return form, [("", request)], notes


def _document(document: object, body: bytes) -> tuple[str, model.IncomingRequest, tuple[str, ...]]:
    if isinstance(document, list):
        return f"JSON array of {len(document)}", _post("/v1/batch", orjson.dumps({BATCH: document})), ()
    if not isinstance(document, dict):
        raise PasteError("The JSON is not an object or an array of messages.")
    if BATCH in document:
        count = len(document[BATCH]) if isinstance(document[BATCH], list) else 0
        return f"batch of {count}", _post("/v1/batch", body), ()
    kind = document.get(TYPE)
    if isinstance(kind, str) and kind in TYPES:
        return f"{kind} message", _post(f"/v1/{kind}", body), ()
    if kind is None and "event" in document:
        return "track message", _post("/v1/track", body), ("It has no type; sent as track because it has an event.",)
    # Sent as a batch item so the missing or unknown type is reported as a problem, not guessed.
    return "message", _post("/v1/batch", orjson.dumps({BATCH: [document]})), ()


def _ndjson(lines: list[tuple[int, str]]) -> tuple[str, list[tuple[str, model.IncomingRequest]], tuple[str, ...]]:
    requests = []
    notes: list[str] = []
    for number, line in lines:
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise PasteError(f"Line {number}, column {exc.colno}: not JSON ({exc.msg}).") from exc
        _, request, extra = _document(document, line.strip().encode())
        requests.append((f"line {number}", request))
        notes += [f"Line {number}: {n}" for n in extra]
    return f"NDJSON, {len(lines)} lines", requests, tuple(notes)


def _calls(text: str) -> tuple[str, list[tuple[str, model.IncomingRequest]], tuple[str, ...]]:
    try:
        calls = parse_calls(text)
    except CallError as exc:
        line = text.count("\n", 0, exc.offset) + 1
        column = exc.offset - (text.rfind("\n", 0, exc.offset) + 1) + 1
        raise PasteError(f"Line {line}, column {column}: {exc.message}") from exc
    requests = [
        (f"call {n}", _post(f"/v1/{c.message['type']}", orjson.dumps(c.message))) for n, c in enumerate(calls, start=1)
    ]
    notes = tuple(dict.fromkeys(note for c in calls for note in c.notes))
    label = f"{len(calls)} calls" if len(calls) > 1 else f"{calls[0].message['type']} call"
    return label, requests, notes


def _post(path: str, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> model.IncomingRequest:
    kept = [h for h in headers if h[0].lower() not in ("authorization", "content-length", "host")]
    names = {k.lower() for k, _ in kept}
    own = [h for h in _HEADERS if h[0].lower() == "authorization" or h[0].lower() not in names]
    return model.IncomingRequest(method="POST", path=path, headers=(*own, *kept), body=body)


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def _curl_user(arg: str, value: str | None) -> tuple[str | None, int] | None:
    """``-u KEY:``, ``-uKEY:``, ``--user KEY:`` or ``--user=KEY:``: (the user, how many args it took)."""
    if arg in ("-u", "--user"):
        return (value.partition(":")[0] if value is not None else None), 2
    for prefix in ("--user=", "-u"):
        if arg.startswith(prefix) and len(arg) > len(prefix):
            return arg[len(prefix) :].partition(":")[0], 1
    return None


def _curl_auth(headers: list[tuple[str, str]], user: str | None, body: bytes) -> tuple[tuple[str, str], str]:
    """The Authorization header to send and where the write key came from (a note for the dialog).

    The command's own key wins: its Authorization header, then ``-u``, then the body's ``writeKey``
    (left to the wire core to read); only a command with none of them is attributed to ``paste``.
    """
    given = next((v for k, v in headers if k.lower() == "authorization"), None)
    if given is not None and basic_auth_user(given):
        return (
            "Authorization",
            given,
        ), f"Kept the command's write key {basic_auth_user(given)} (Authorization header)."
    if user:
        return ("Authorization", _basic(user)), f"Kept the command's write key {user} (-u)."
    in_body = body_write_key(body)
    if in_body is not None:
        return ("", ""), f"Kept the body's write key {in_body}."
    return ("Authorization", _basic(PASTE_KEY)), f"The command names no write key; stored with source {PASTE_KEY}."


def _curl(text: str) -> tuple[model.IncomingRequest, str]:
    joined = text.replace("\\\r\n", " ").replace("\\\n", " ")
    try:
        args = shlex.split(joined)
    except ValueError as exc:
        raise PasteError(f"The curl command does not parse as shell words: {exc}.") from exc
    url: str | None = None
    method: str | None = None
    headers: list[tuple[str, str]] = []
    data: list[str] = []
    user: str | None = None
    index = 1
    while index < len(args):
        arg = args[index]
        value = args[index + 1] if index + 1 < len(args) else None
        credentials = _curl_user(arg, value)
        if credentials is not None:
            user = credentials[0] or user
            index += credentials[1]
            continue
        if arg in _CURL_VALUE:
            if value is None:
                raise PasteError(f"curl option {arg} needs a value.")
            index += 2
            if arg in ("-X", "--request"):
                method = value.upper()
            elif arg in ("-H", "--header"):
                name, _, header_value = value.partition(":")
                headers.append((name.strip(), header_value.strip()))
            elif arg in ("-A", "--user-agent"):
                headers.append(("User-Agent", value))
            elif arg == "--url":
                url = value
            elif arg in _CURL_DATA:
                if value.startswith("@") and arg != "--data-raw":
                    raise PasteError(f"The curl command reads its body from a file ({value}); paste the body itself.")
                data.append(value)
                if arg == "--json":
                    headers.append(("Content-Type", "application/json"))
            continue
        if not arg.startswith("-") and url is None:
            url = arg
        index += 1
    if url is None:
        raise PasteError("The curl command has no URL.")
    parts = urlsplit(url if "://" in url else f"http://{url}")
    body = "&".join(data).encode()
    verb = method or ("POST" if data else "GET")
    auth, note = _curl_auth(headers, user, body)
    kept = [h for h in headers if h[0].lower() not in ("authorization", "content-length", "host")]
    names = {k.lower() for k, _ in kept}
    defaults = [h for h in _HEADERS if h[0].lower() != "authorization" and h[0].lower() not in names]
    request = model.IncomingRequest(
        method=verb,
        path=parts.path or "/",
        query_string=parts.query,
        query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
        headers=(*([auth] if auth[0] else []), *defaults, *kept),
        body=body,
    )
    return request, note
