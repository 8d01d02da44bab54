"""Pure parsing of library calls pasted as text, e.g. ``analytics.track("Signed Up", {plan: "pro"})``.

Accepted (what people copy from code, bug reports, and segdbg's own Pretty view):

- analytics.js, positional: ``analytics.track(event, properties?, options?)``,
  ``identify(userId?, traits?, options?)``, ``page(category?, name?, properties?, options?)``,
  ``group(groupId, traits?, options?)``, ``alias(userId, previousId?, options?)``;
- analytics-node / analytics-php, one object: ``analytics.track({ userId, event, properties })``,
  ``Segment::track(["userId" => "u1", ...])``;
- analytics-python / analytics-ruby, keywords: ``analytics.track(user_id="u1", event="E")``,
  ``Analytics.track(user_id: "u1", event: "E")``.

Values must be literals (strings, numbers, booleans, null/None/nil, objects, arrays) in JS,
JSON, Python, Ruby or PHP spelling; anything else is a :class:`CallError` that says where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from debugger.core.pretty.dialects.call import KEYWORD_ARGS
from debugger.core.protocol import TYPES

#: A filled-in anonymousId for analytics.js calls, which carry none in code (the library adds it).
PASTE_ANONYMOUS_ID = "paste"

_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<comment>//[^\n]*|\#[^\n]*|/\*.*?\*/)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\$]|\\.)*`)
    |(?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<ident>[A-Za-z_$][\w$]*)
    |(?P<punct>=>|::|->|[(){}\[\],:;=.])""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0", "e": "\x1b"}
_WORDS = {
    "true": True,
    "True": True,
    "false": False,
    "False": False,
    "null": None,
    "None": None,
    "nil": None,
    "undefined": None,
}
_SNAKE = {
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "group_id": "groupId",
    "previous_id": "previousId",
    "message_id": "messageId",
    "event": "event",
    "properties": "properties",
    "traits": "traits",
    "context": "context",
    "integrations": "integrations",
    "timestamp": "timestamp",
    "name": "name",
    "category": "category",
}
#: analytics-python's positional order per call: its keyword arguments' order.
_PYTHON_ORDER = KEYWORD_ARGS
_MESSAGE_KEYS = {"userId", "anonymousId", "event", "traits", "properties", "groupId", "previousId", "type", "messageId"}
_OPTION_KEYS = ("context", "integrations", "anonymousId", "timestamp", "messageId")


class CallError(ValueError):
    """The text is not a call this parser reads; ``offset`` is where it stopped."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message, self.offset = message, offset


@dataclass(frozen=True, slots=True)
class ParsedCall:
    """One call: the message it sends, and notes on anything filled in."""

    message: dict[str, Any]
    notes: tuple[str, ...] = ()


CALL_START = re.compile(r"^\s*(?:[A-Za-z_$][\w$]*\s*(?:\.|::|->)\s*)+[A-Za-z_$][\w$]*\s*\(")


def looks_like_calls(text: str) -> bool:
    """Whether the first non-comment line starts like ``something.track(``."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("//", "#", "/*")):
            return bool(CALL_START.match(stripped))
    return False


def parse_calls(text: str) -> list[ParsedCall]:
    """Every call in ``text``, in order.

    Raises:
        CallError: something is not a literal call; the message names it and its position.
    """
    tokens = _tokens(text)
    parser = _Parser(tokens, len(text))
    calls = []
    while not parser.done():
        calls.append(parser.call())
    if not calls:
        raise CallError("No call found.", 0)
    return calls


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise CallError(f"Unexpected character {text[pos]!r}.", pos)
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            out.append((kind, match.group(), pos))
        pos = match.end()
    return out


def _unquote(token: str, offset: int) -> str:
    body = token[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        nxt = body[index + 1]
        if nxt in "uU" and body[index + 2 : index + 3] == "{":
            end = body.index("}", index)
            out.append(chr(int(body[index + 3 : end], 16)))
            index = end + 1
        elif nxt == "u":
            out.append(chr(int(body[index + 2 : index + 6], 16)))
            index += 6
        elif nxt == "x":
            out.append(chr(int(body[index + 2 : index + 4], 16)))
            index += 4
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            index += 2
    try:
        return "".join(out).encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError as exc:
        raise CallError("A string holds an unpaired surrogate escape.", offset) from exc


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]], end: int) -> None:
        self.tokens, self.index, self.end = tokens, 0, end

    def done(self) -> bool:
        while self._peek(";"):
            self.index += 1
        return self.index >= len(self.tokens)

    def _at(self) -> tuple[str, str, int]:
        return self.tokens[self.index] if self.index < len(self.tokens) else ("eof", "", self.end)

    def _peek(self, value: str) -> bool:
        kind, text, _ = self._at()
        return kind == "punct" and text == value

    def _expect(self, value: str) -> None:
        kind, text, offset = self._at()
        if kind != "punct" or text != value:
            raise CallError(f"Expected {value!r} but found {text or 'the end'!r}.", offset)
        self.index += 1

    def call(self) -> ParsedCall:
        kind, name, offset = self._at()
        if kind != "ident":
            raise CallError(f"Expected a call like analytics.track(...), found {name or 'the end'!r}.", offset)
        path = [name]
        self.index += 1
        while self._peek(".") or self._peek("::") or self._peek("->"):
            self.index += 1
            kind, name, _ = self._at()
            if kind != "ident":
                raise CallError("Expected a method name.", self._at()[2])
            path.append(name)
            self.index += 1
        method = path[-1]
        if method not in TYPES:
            raise CallError(f"{'.'.join(path)}() is not a Segment call; use one of {', '.join(TYPES)}.", offset)
        self._expect("(")
        positional: list[Any] = []
        keywords: dict[str, Any] = {}
        while not self._peek(")"):
            kind, word, _ = self._at()
            nxt = self.tokens[self.index + 1] if self.index + 1 < len(self.tokens) else ("eof", "", self.end)
            if kind == "ident" and nxt[0] == "punct" and nxt[1] in ("=", ":") and word not in _WORDS:
                self.index += 2
                keywords[word] = self.value()
            else:
                positional.append(self.value())
            if not self._peek(")"):
                self._expect(",")
        self._expect(")")
        return _to_message(method, positional, keywords, offset)

    def value(self) -> Any:
        kind, text, offset = self._at()
        self.index += 1
        if kind == "string":
            return _unquote(text, offset)
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "ident" and text in _WORDS:
            return _WORDS[text]
        if kind == "punct" and text == "{":
            return self._members("}")
        if kind == "punct" and text == "[":
            return self._array()
        what = "the end" if kind == "eof" else repr(text)
        raise CallError(f"Only literal values can be pasted; found {what}.", offset)

    def _members(self, close: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while not self._peek(close):
            kind, text, offset = self._at()
            if kind not in ("string", "ident", "number"):
                raise CallError(f"Expected a key, found {text or 'the end'!r}.", offset)
            self.index += 1
            if kind == "ident" and (self._peek(",") or self._peek(close)):
                raise CallError(f"`{text}` is a variable; write its value instead.", offset)
            if self._peek("=>"):
                self.index += 1
            else:
                self._expect(":")
            out[_unquote(text, offset) if kind == "string" else text] = self.value()
            if not self._peek(close):
                self._expect(",")
        self._expect(close)
        return out

    def _array(self) -> Any:
        items: list[Any] = []
        pairs: dict[str, Any] | None = None
        while not self._peek("]"):
            item = self.value()
            if pairs is not None or (not items and self._peek("=>")):
                self._expect("=>")  # a PHP associative array: [key => value, ...]
                pairs = pairs if pairs is not None else {}
                pairs[str(item)] = self.value()
            else:
                items.append(item)
            if not self._peek("]"):
                self._expect(",")
        self._expect("]")
        return pairs if pairs is not None else items


def _to_message(method: str, positional: list[Any], keywords: dict[str, Any], offset: int) -> ParsedCall:
    message: dict[str, Any] = {"type": method}
    notes: list[str] = []
    if keywords:  # analytics-python / analytics-ruby
        for name, value in zip(_PYTHON_ORDER[method], positional, strict=False):
            message[_SNAKE[name]] = value
        for name, value in keywords.items():
            if name not in _SNAKE:
                raise CallError(f"Unknown argument {name!r} for {method}().", offset)
            message[_SNAKE[name]] = value
    elif len(positional) == 1 and isinstance(positional[0], dict) and _MESSAGE_KEYS & positional[0].keys():
        message.update(positional[0])  # analytics-node / analytics-php: the message itself
        message["type"] = method
    else:
        message.update(_browser(method, positional, offset))
        if "userId" not in message and "anonymousId" not in message:
            message["anonymousId"] = PASTE_ANONYMOUS_ID
            notes.append(f'analytics.js adds the anonymousId itself; "{PASTE_ANONYMOUS_ID}" was filled in.')
    return ParsedCall({k: v for k, v in message.items() if v is not None or k == "type"}, tuple(notes))


def _browser(method: str, args: list[Any], offset: int) -> dict[str, Any]:
    """analytics.js positional arguments (strings first, then objects), with analytics-python's
    positional order where the string count says so (``track("u1", "Event")``)."""
    strings: list[str | None] = []
    while args and (isinstance(args[0], str) or args[0] is None) and len(strings) < 3:
        strings.append(args.pop(0))
    objects = args
    if any(not isinstance(o, dict) for o in objects):
        raise CallError(f"{method}(): after the names, the arguments must be objects.", offset)
    out: dict[str, Any] = {}
    python_style = (method, len(strings)) in (("track", 2), ("page", 3), ("screen", 3), ("group", 2))
    if python_style:
        for name, value in zip(_PYTHON_ORDER[method], strings, strict=False):
            out[_SNAKE[name]] = value
        body_key = {"track": "properties", "group": "traits"}.get(method, "properties")
    elif method == "track":
        out["event"] = strings[0] if strings else None
        body_key = "properties"
    elif method == "identify":
        out["userId"] = strings[0] if strings else None
        body_key = "traits"
    elif method in ("page", "screen"):
        if len(strings) == 1:
            out["name"] = strings[0]
        elif strings:
            out["category"], out["name"] = strings[0], strings[1]
        body_key = "properties"
    elif method == "group":
        out["groupId"] = strings[0] if strings else None
        body_key = "traits"
    else:
        out["userId"] = strings[0] if strings else None
        out["previousId"] = strings[1] if len(strings) > 1 else None
        body_key = ""
    if body_key and objects:
        out[body_key] = objects.pop(0)
    if objects:
        options = objects.pop(0)
        out.update({k: options[k] for k in _OPTION_KEYS if k in options})
    if objects:
        raise CallError(f"{method}() takes at most two objects (data and options).", offset)
    return out
