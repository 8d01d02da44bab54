"""Every problem code segdbg can report, as data: its category, what Segment would do, and the fix (docs/problems.md).

One :class:`Code` per code the server (protocol problems, refused requests) and the linter (strict, plan,
semantic, naming) can emit. ``consequence`` says what happens to the event at Segment:

- ``dropped``: it never reaches destinations (refused, invalid, deduplicated, blocked);
- ``altered``: it arrives, but differently from what was sent (a field ignored, replaced or misread);
- ``advisory``: it arrives as sent; naming and the Segment Spec's conventions would serve it better.

``fix`` is one paragraph; ``libraries`` holds the fix for a library family where it differs
(:func:`remedy` picks it from ``context.library.name``). docs/problems.md is generated from this table
(``python -m tests.problems_reference``) and tests/test_codes.py checks that the table names exactly the
codes the source can emit. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches

DROPPED, ALTERED, ADVISORY = "dropped", "altered", "advisory"
#: Every consequence, worst first.
CONSEQUENCES: tuple[str, ...] = (DROPPED, ALTERED, ADVISORY)
#: What each consequence means, as docs/problems.md and `check --explain` say it.
CONSEQUENCE_TEXT = {
    DROPPED: "never reaches destinations",
    ALTERED: "stored or delivered differently from what was sent",
    ADVISORY: "arrives as sent; a convention would serve it better",
}
#: The table's categories: ``request`` is a request refused whole; the others are finding categories.
REQUEST = "request"
TABLE_CATEGORIES: tuple[str, ...] = (REQUEST, "protocol", "strict", "plan", "semantic", "naming")

#: Library families with their own fix text, and the ``context.library.name`` values that belong to each.
LIBRARIES: dict[str, tuple[str, ...]] = {
    "analytics.js": ("analytics.js", "analytics-next", "@segment/analytics-next"),
    "analytics-python": ("analytics-python", "segment-analytics-python"),
    "analytics-node": ("analytics-node", "@segment/analytics-node"),
    "analytics-swift": ("analytics-swift", "analytics-ios"),
    "analytics-kotlin": ("analytics-kotlin", "analytics-android"),
    "analytics-ruby": ("analytics-ruby",),
}
_FAMILY = {name: family for family, names in LIBRARIES.items() for name in names}


@dataclass(frozen=True, slots=True)
class Code:
    """One problem code.

    Attributes:
        code: the stable code (``no_user_anon_id``).
        category: ``request``, ``protocol``, ``strict``, ``plan``, ``semantic`` or ``naming``.
        consequence: ``dropped``, ``altered`` or ``advisory``.
        summary: what it means, in one line.
        fix: what to change, in one paragraph.
        libraries: library family → the fix for that library, where it differs.
    """

    code: str
    category: str
    consequence: str
    summary: str
    fix: str
    libraries: Mapping[str, str] = field(default_factory=dict)


_HOST = {
    "analytics.js": "Load analytics.js with the CDN settings from segdbg (`segdbg serve` prints the snippet) or set "
    "`integrations: {'Segment.io': {apiHost: 'localhost:8088/v1', protocol: 'http'}}` in `analytics.load`.",
    "analytics-python": "Set `analytics.host = 'http://localhost:8088'` (the root: the library appends /v1/batch).",
    "analytics-node": "Pass `host: 'http://localhost:8088'` to `new Analytics({writeKey, host})` (the root, no /v1).",
    "analytics-swift": 'Set `Configuration(writeKey:).apiHost("localhost:8088/v1")` (apiHost includes /v1).',
    "analytics-kotlin": 'Set `apiHost = "localhost:8088/v1"` in the `Configuration` (apiHost includes /v1).',
}

_ENTRIES: tuple[Code, ...] = (
    # Requests refused whole: nothing in them is stored as a message (docs/protocol.md §3).
    Code(
        "invalid_write_key",
        REQUEST,
        DROPPED,
        "No write key, or one `serve --write-key` does not accept: the request is refused with 400.",
        "Send the source's write key as the Basic-auth user (`Authorization: Basic base64(KEY:)`) or as `writeKey` "
        "in the body. With `serve --write-key`, use one of the keys it was given.",
        {
            "analytics.js": "Pass the write key to `AnalyticsBrowser.load({writeKey})` (or the snippet's `load`).",
            "analytics-python": "Set `analytics.write_key = 'KEY'` before the first call (or `Client('KEY')`).",
            "analytics-node": "Pass `writeKey` to `new Analytics({writeKey: 'KEY'})`.",
            "analytics-swift": 'Create the client with `Analytics(configuration: Configuration(writeKey: "KEY"))`.',
            "analytics-kotlin": 'Create the client with `Analytics("KEY", context)`.',
        },
    ),
    Code(
        "invalid_json",
        REQUEST,
        DROPPED,
        "The body is not JSON, or not a JSON object: the request is refused with 400.",
        "Send a JSON object (`Content-Type: application/json`): one message for /v1/track and the like, "
        '`{"batch": [...]}` for /v1/batch. NaN and Infinity are not JSON; send null or a string.',
        {
            "analytics-python": "Values the JSON encoder cannot write (sets, objects) fail the call; convert them "
            "to lists, strings or numbers first."
        },
    ),
    Code(
        "invalid_encoding",
        REQUEST,
        DROPPED,
        "The Content-Encoding is unknown or the gzip body is damaged: refused with 400.",
        "Send the body as sent by the library (gzip or identity) and make the Content-Encoding header say which; "
        "do not gzip twice.",
    ),
    Code(
        "invalid_batch",
        REQUEST,
        DROPPED,
        "A /v1/batch body without a `batch` array: refused with 400.",
        'Wrap the messages: `{"batch": [{"type": "track", ...}, ...]}`; send a single message to its own route '
        "(/v1/track, /v1/identify, ...) instead.",
    ),
    Code(
        "invalid_pixel_data",
        REQUEST,
        DROPPED,
        "A pixel GET whose `data` parameter is not base64 of a JSON object.",
        "Encode the message as JSON, then base64 (standard or URL-safe), and pass it as `?data=`; or pass the "
        "fields as plain query parameters (`?writeKey=K&userId=u1&event=Clicked`).",
    ),
    Code(
        "payload_too_large",
        REQUEST,
        DROPPED,
        "The body (after decompression) is over 500 KB per batch or 32 KB per message: refused with 400.",
        "Send fewer or smaller messages: move large blobs out of properties, and flush batches earlier.",
        {
            "analytics-python": "Lower `upload_size` (messages per batch) on the client; a single message "
            "over 32 KB is dropped by the library itself, so trim its properties.",
            "analytics-node": "Lower `flushAt` and trim large properties.",
            "analytics.js": "Trim large properties; the browser sends one message per request.",
        },
    ),
    Code(
        "request_timeout",
        REQUEST,
        DROPPED,
        "The body did not arrive within the server's body timeout: refused with 408.",
        "Send the whole body in one go; check for a proxy that stalls uploads. Clients retry a 408, so nothing is "
        "lost if they do.",
    ),
    Code(
        "client_disconnected",
        REQUEST,
        DROPPED,
        "The client went away before the body was complete.",
        "Keep the process alive until the library has flushed.",
        {
            "analytics-python": "Call `analytics.flush()` (or `shutdown()`) before the process exits.",
            "analytics-node": "`await analytics.closeAndFlush()` before the process exits.",
            "analytics.js": "`await analytics.track(...)` (it returns a promise) before navigating away.",
        },
    ),
    Code(
        "fault_injected",
        REQUEST,
        DROPPED,
        "`segdbg serve --fault` refused this request on purpose (429/5xx, a reset or a held connection); the "
        "body is kept and its events are not counted as arrived.",
        "Nothing to fix in the event: a client should send it again. `segdbg delivery-check` says whether each "
        "client did (docs/faults.md).",
    ),
    Code(
        "not_found",
        REQUEST,
        DROPPED,
        "No Segment route at this path (e.g. /v1/v1/batch): refused with 404.",
        "Point the library at the server root; it appends /v1/... itself.",
        _HOST,
    ),
    Code(
        "method_not_allowed",
        REQUEST,
        DROPPED,
        "A method the route does not take (GET on /v1/track): refused with 405.",
        "POST messages to /v1/<type> and /v1/batch; GET only the pixel and settings routes.",
    ),
    Code(
        "uri_too_long",
        REQUEST,
        DROPPED,
        "The URL is over the server's limit: refused with 414.",
        "Send the message as a POST body instead of query parameters.",
    ),
    Code(
        "headers_too_large",
        REQUEST,
        DROPPED,
        "Too many headers, or too many bytes of them: refused with 431.",
        "Send fewer and shorter headers (large cookies are the usual cause).",
    ),
    Code(
        "batch_too_large",
        REQUEST,
        DROPPED,
        "A batch of more than 2,500 messages: Segment answers 200 and drops all of them.",
        "Send at most 2,500 messages per batch.",
        {
            "analytics-python": "Keep `upload_size` at or below 100 (the default).",
            "analytics-node": "Keep `flushAt` below 2,500.",
        },
    ),
    Code(
        "store_unavailable",
        REQUEST,
        DROPPED,
        "segdbg could not store the request (capture locked or full): answered 503, not stored.",
        "Clients retry a 503, so the events come again; free disk space, or stop the other process holding "
        "the capture (`segdbg vacuum` says which).",
    ),
    # Message problems found at ingest (docs/protocol.md §4).
    Code(
        "invalid_message",
        "protocol",
        DROPPED,
        "A batch item that is not a JSON object.",
        "Put only message objects in `batch`; remove nulls, strings and nested arrays.",
    ),
    Code(
        "missing_type",
        "protocol",
        DROPPED,
        "A batch item without `type`.",
        "Give each batch item a `type` (track, identify, page, screen, group, alias), or send it to its route.",
    ),
    Code(
        "invalid_type",
        "protocol",
        DROPPED,
        "A `type` that is not one of Segment's six.",
        "Use track, identify, page, screen, group or alias; custom kinds are track events with a name.",
    ),
    Code(
        "type_overridden",
        "protocol",
        ALTERED,
        "The message's `type` differs from the route it was sent to; the route wins.",
        "Send the message to the route of its type (a track to /v1/track), or to /v1/batch, or drop the `type` field.",
    ),
    Code(
        "no_user_anon_id",
        "protocol",
        DROPPED,
        "Neither `userId` nor `anonymousId`: Segment drops the message.",
        "Set `userId` once the user is known and `anonymousId` before; every message needs one of them.",
        {
            "analytics.js": "analytics.js sets anonymousId itself; this comes from a hand-built request or a "
            "cleared cookie/localStorage. Call through `analytics.track` rather than posting yourself.",
            "analytics-python": "Pass `user_id=` or `anonymous_id=` to every call "
            "(`analytics.track(user_id='u1', event='Signed Up')`).",
            "analytics-node": "Pass `userId` or `anonymousId` in every call (`analytics.track({userId, event})`).",
            "analytics-swift": "The library sets anonymousId; check a custom plugin or middleware that removes it.",
            "analytics-kotlin": "The library sets anonymousId; check a custom plugin that removes it.",
            "analytics-ruby": "Pass `user_id:` or `anonymous_id:` to every call.",
        },
    ),
    Code(
        "missing_event",
        "protocol",
        DROPPED,
        "A track call without an `event` name.",
        "Name every track call: `event` is required.",
        {
            "analytics-python": "`analytics.track(user_id, 'Order Completed', properties)`: the event is the second "
            "argument.",
            "analytics.js": "`analytics.track('Order Completed', properties)`: the name comes first.",
        },
    ),
    Code(
        "invalid_event",
        "protocol",
        DROPPED,
        "A track call whose `event` is not a string.",
        "Send the event name as a string; put numbers or objects in properties.",
    ),
    Code(
        "missing_group_id",
        "protocol",
        DROPPED,
        "A group call without `groupId`.",
        "Pass the account or company id as `groupId`.",
        {"analytics-python": "`analytics.group(user_id, group_id, traits)`."},
    ),
    Code(
        "missing_user_id",
        "protocol",
        DROPPED,
        "An alias call without the new `userId`.",
        "Alias needs both ids: `userId` (the new one) and `previousId` (the old one).",
    ),
    Code(
        "missing_previous_id",
        "protocol",
        DROPPED,
        "An alias call without `previousId`.",
        "Pass the old id (usually the anonymousId) as `previousId`.",
        {"analytics-python": "`analytics.alias(previous_id, user_id)`: the old id comes first."},
    ),
    Code(
        "no_write_key",
        "protocol",
        DROPPED,
        "A batch item with no write key anywhere (header, envelope or message).",
        "Send the write key once per request as the Basic-auth user, or in the envelope's `writeKey`.",
    ),
    Code(
        "invalid_context",
        "protocol",
        DROPPED,
        "`context` is not an object.",
        'Send `context` as an object (`{"library": {...}, "ip": ...}`), or leave it out.',
    ),
    Code(
        "invalid_integrations",
        "protocol",
        DROPPED,
        "`integrations` is not an object.",
        'Send `integrations` as an object of destination name → boolean (`{"All": true, "Mixpanel": false}`).',
    ),
    Code(
        "invalid_properties",
        "protocol",
        DROPPED,
        "`properties` is not an object.",
        "Send properties as an object of name → value; wrap a list or a value in a named key.",
    ),
    Code(
        "invalid_traits", "protocol", DROPPED, "`traits` is not an object.", "Send traits as an object of name → value."
    ),
    Code(
        "invalid_userId",
        "protocol",
        DROPPED,
        "`userId` is neither a string nor a number (an object, a list, a boolean).",
        "Send the user id as a string.",
    ),
    Code(
        "invalid_anonymousId",
        "protocol",
        DROPPED,
        "`anonymousId` is neither a string nor a number.",
        "Send the anonymous id as a string (a UUID is usual).",
    ),
    Code(
        "invalid_message_id",
        "protocol",
        ALTERED,
        "`messageId` is not a string; a new one was assigned, so retries are no longer deduplicated.",
        "Let the library set messageId, or send a unique string per message.",
    ),
    Code(
        "message_id_too_long",
        "protocol",
        ALTERED,
        "`messageId` is longer than Segment's 100 characters.",
        "Use ids of at most 100 characters (a UUID is 36).",
    ),
    Code(
        "invalid_timestamp",
        "protocol",
        ALTERED,
        "`timestamp`, `originalTimestamp` or `sentAt` is not ISO-8601; it was ignored and the receive time used.",
        "Send ISO-8601 times with a zone (`2026-12-06T08:00:00.000Z`).",
        {
            "analytics-python": "Pass `timestamp=` a `datetime` (aware, e.g. `datetime.now(timezone.utc)`), not a "
            "string or an epoch number.",
            "analytics.js": "Pass `timestamp: new Date()` (or an ISO string) in the options.",
            "analytics-node": "Pass `timestamp: new Date()`.",
        },
    ),
    Code(
        "invalid_unicode",
        "protocol",
        ALTERED,
        "The body had bytes that are not UTF-8 (or lone surrogates); they were stored as U+FFFD.",
        "Encode text as UTF-8 before sending; decode bytes read from files or sockets with the right codec.",
    ),
    Code(
        "duplicate_message_id",
        "protocol",
        DROPPED,
        "The same messageId as an earlier event: Segment drops repeats within 24 hours.",
        "Give every message its own messageId; reuse one only for a retry of the same message.",
    ),
    # Strict mode (docs/tracking-plans.md): accepted, then dropped or mangled downstream.
    Code(
        "traits_on_track",
        "strict",
        ALTERED,
        "Top-level `traits` on track/page/screen reach no destination.",
        "Set traits with identify, or send them in `context.traits` on the track call.",
        {
            "analytics.js": "`analytics.track('Viewed', props, {traits: {plan: 'pro'}})` puts them in context.traits.",
            "analytics-python": "`analytics.track(user_id, event, properties, context={'traits': {...}})`.",
            "analytics-node": "`analytics.track({userId, event, properties, context: {traits: {...}}})`.",
        },
    ),
    Code(
        "traits_in_properties",
        "strict",
        ADVISORY,
        "A `traits` object inside a track/page/screen's `properties`: a property, never the user's traits.",
        "Send the user's traits in `context.traits` on the call (the Spec's place for them on a track), or set them "
        "with identify; `properties` describe the event.",
        {
            "analytics.js": "`analytics.track('Viewed', props, {traits: {plan: 'pro'}})` puts them in context.traits.",
            "analytics-python": "`analytics.track(user_id, event, properties, context={'traits': {...}})`.",
        },
    ),
    # Across events (`segdbg check` only: docs/tracking-plans.md, "Across events").
    Code(
        "timestamps_out_of_order",
        "strict",
        ALTERED,
        "A batch's messages go back in time: a message is timestamped before the one sent before it.",
        "Stamp each call when it happens, from one clock; a queue that re-stamps on flush or merges two clocks "
        "reorders events in every destination that sorts by timestamp.",
        {
            "analytics-python": "Pass `timestamp=` only when you replay history, and then in order.",
            "analytics.js": "Do not set `timestamp` from a server clock in the browser; let the library stamp it.",
        },
    ),
    Code(
        "double_fire",
        "strict",
        ALTERED,
        "The same call with the same properties from one identity twice within a moment: usually fired twice.",
        "Fire the call from one place (a handler bound twice, a component rendered twice, a retry without a "
        "messageId); destinations count both, so funnels and revenue double.",
        {
            "analytics.js": "Guard React effects and event listeners so they bind once (StrictMode mounts twice).",
            "analytics-python": "Reuse the messageId when retrying a call, so Segment drops the repeat.",
        },
    ),
    Code(
        "traits_changed_mid_session",
        "strict",
        ADVISORY,
        "An identify in the middle of a session changed who the user is (email, phone, username or name).",
        "Identify once the user is known and with the same traits; a changed email mid-session usually means two "
        "people share a device or the identify call reads stale state.",
        {"analytics.js": "Call `analytics.reset()` on logout so the next user starts a new identity."},
    ),
    # Identities across events (`segdbg check` only: docs/identities.md).
    Code(
        "anonymous_id_many_users",
        "strict",
        ALTERED,
        "One anonymousId was identified as several userIds: identity graphs merge those people into one profile.",
        "Reset the anonymous identity when a user signs out, so the next user on the device starts a new one; on a "
        "server, send the anonymousId of the browser or device the request came from, never a shared constant.",
        {
            "analytics.js": "Call `analytics.reset()` on logout: it clears the userId and makes a new anonymousId.",
            "analytics-python": "Pass the visitor's own `anonymous_id=` (from the request), not a fixed value.",
            "analytics-swift": "Call `analytics.reset()` on logout.",
            "analytics-kotlin": "Call `analytics.reset()` on logout.",
        },
    ),
    Code(
        "user_id_changed_mid_session",
        "strict",
        ALTERED,
        "Within one session, one anonymousId's events switch from one userId to another with no alias between.",
        "Call reset() when the user signs out (a new anonymousId for the next user), or alias the old userId to the "
        "new one if the same person's id really changed; otherwise the session's events belong to two people.",
        {"analytics.js": "Call `analytics.reset()` on logout, and `analytics.alias(newId)` if an id is renamed."},
    ),
    Code(
        "alias_loop",
        "strict",
        ALTERED,
        "Aliases that go round in a circle (A→B, then B→A), or an id aliased to itself: no id is the canonical one.",
        "Alias once, from the old id (previousId: the anonymousId or the old userId) to the new userId, and never "
        "back; destinations that merge on alias refuse the second call or merge in the wrong direction.",
        {"analytics.js": "`analytics.alias(newUserId)` takes the current id as previousId: call it once, at sign-up."},
    ),
    Code(
        "properties_on_identify",
        "strict",
        ALTERED,
        "`properties` on identify/group/alias are ignored.",
        "Send user attributes as `traits` on identify (and group); alias takes only ids.",
        {"analytics-python": "`analytics.identify(user_id, traits={...})`."},
    ),
    Code(
        "reserved_trait_type",
        "strict",
        ALTERED,
        "A reserved trait (email, createdAt, address, ...) of the wrong type; destinations drop or misread it.",
        "Send reserved traits in the Spec's types: email a string, createdAt/birthday ISO-8601 dates, "
        "address an object, age a number.",
        {"analytics-python": "Pass dates as `datetime` objects; the library writes them as ISO-8601."},
    ),
    Code(
        "reserved_property_type",
        "strict",
        ALTERED,
        "A reserved property (revenue, value, url, ...) of the wrong type; destinations drop or misread it.",
        'Send `revenue`/`value`/`price` as numbers (not strings like "9.99") and page fields as strings.',
    ),
    Code(
        "currency_code",
        "strict",
        ALTERED,
        "`currency` is not an ISO 4217 code; revenue in it is dropped or misread.",
        'Send a three-letter ISO 4217 code in upper case ("USD", "EUR"), not a symbol or a name.',
    ),
    Code(
        "integrations_disable_all",
        "strict",
        DROPPED,
        "`integrations` sets All: false and enables nothing else: no destination receives the event.",
        'Enable the destinations that should get it (`{"All": false, "Amplitude": true}`), or remove All: false.',
    ),
    Code(
        "integrations_value",
        "strict",
        ALTERED,
        'An integrations flag that is neither a boolean nor an options object ("false" counts as enabled).',
        "Use true, false or an options object.",
    ),
    Code(
        "integrations_all_case",
        "strict",
        ALTERED,
        "`all`/`ALL` in integrations: names are case-sensitive, so it is ignored.",
        "Spell it `All`.",
    ),
    Code(
        "placeholder_id",
        "strict",
        ALTERED,
        'An id like "undefined", "null", "guest", "anonymous", "0" or blank: Segment takes it as a real id and '
        "merges everyone who sent it.",
        "Leave the id out (or null) when it is not known; never stringify a missing value or send a shared "
        'stand-in ("guest", "0") for a visitor who has not signed in: send their anonymousId instead.',
        {
            "analytics.js": "Guard `analytics.identify(user.id)` with `if (user.id)`: `String(undefined)` is "
            '"undefined".',
            "analytics-python": "Do not pass `str(None)`; pass `anonymous_id=` until the user is known.",
        },
    ),
    # Tracking plan (docs/tracking-plans.md): what Segment Protocols blocks or omits when told to.
    Code(
        "unplanned_event",
        "plan",
        DROPPED,
        "A track event the plan does not list (Protocols blocks it when unplanned events are blocked).",
        "Add the event to the plan, or fix its name to the planned one; `--allow-unplanned-events` accepts it.",
    ),
    Code(
        "unplanned_property",
        "plan",
        ALTERED,
        "A property the plan does not list (Protocols omits it when unplanned properties are omitted).",
        "Add the property to the plan's event, or stop sending it; `--allow-unplanned-properties` accepts it.",
    ),
    Code(
        "required",
        "plan",
        DROPPED,
        "A property the plan requires is missing (Protocols blocks the event on violations when told to).",
        "Send the property on every call of this event, or make it optional in the plan.",
    ),
    Code(
        "type",
        "plan",
        DROPPED,
        "A value of a type the plan does not allow.",
        "Send the planned type (a number, not a numeric string), or widen the plan's type.",
    ),
    Code(
        "enum",
        "plan",
        DROPPED,
        "A value the plan's list of allowed values does not include.",
        "Send one of the allowed values (matching case), or add the value to the plan.",
    ),
    Code(
        "format",
        "plan",
        DROPPED,
        "A string not in the plan's format (date-time, email, uri, ...).",
        "Send the value in the format the plan names (ISO-8601 for date-time).",
    ),
    # The Segment Spec's semantic events (docs/tracking-plans.md).
    Code(
        "near_miss_event",
        "semantic",
        ADVISORY,
        "An event name one edit away from a Spec event (Order Complete vs Order Completed).",
        "Use the Spec's exact name, so destinations map it (revenue, funnels) without a custom mapping.",
    ),
    Code(
        "near_miss_property",
        "semantic",
        ADVISORY,
        "A property name close to the Spec's (product_Id, orderId) on a Spec event.",
        "Use the Spec's exact property name.",
    ),
    Code(
        "semantic_missing_property",
        "semantic",
        ADVISORY,
        "A Spec event without a property the Spec expects (Order Completed without revenue or products).",
        "Send the properties the Spec lists for the event, so destinations can use it.",
    ),
    Code(
        "semantic_type",
        "semantic",
        ADVISORY,
        "A Spec property of the wrong type (products not an array, price a string).",
        "Send the Spec's type for the property.",
    ),
    # Naming conventions (docs/tracking-plans.md).
    Code(
        "event_name_casing",
        "naming",
        ADVISORY,
        "An event name not in the chosen casing (Title Case by default).",
        "Rename the event to the convention; `--event-case` or the plan's `naming` chooses it.",
    ),
    Code(
        "event_name_object_action",
        "naming",
        ADVISORY,
        "An event name not in Object Action form with a past-tense verb (Product Viewed).",
        "Name events Object + past-tense Action: `Product Viewed`, not `View Product`.",
    ),
    Code(
        "event_name_whitespace",
        "naming",
        ADVISORY,
        "An event name with leading, trailing or doubled spaces.",
        "Trim the name; names that differ only in spaces are different events downstream.",
    ),
    Code(
        "dynamic_event_name",
        "naming",
        ADVISORY,
        "An event name that carries an id or value, so each call makes a new event.",
        "Keep one fixed name and put the id in properties.",
    ),
    Code(
        "dynamic_page_name",
        "naming",
        ADVISORY,
        "A page or screen name that carries an id.",
        'Name the template ("Product Detail") and send the id as a property.',
    ),
    Code(
        "dynamic_property_key",
        "naming",
        ADVISORY,
        "A property key that is a value (an id, a date), so the schema grows with each call.",
        'Put values in values: `{"product_id": "p1"}`, not `{"p1": true}`.',
    ),
    Code(
        "key_casing",
        "naming",
        ADVISORY,
        "A property or trait key not in the chosen casing (snake_case by default).",
        "Rename the key to the convention; `--key-case` or the plan's `naming` chooses it.",
    ),
)

#: JSON Schema keywords whose violation the plan checker reports under the keyword's snake_case name
#: (``maxLength`` → ``max_length``); ``required``, ``type``, ``anyOf``, ``enum`` and ``format`` have their own codes.
SCHEMA_KEYWORDS: tuple[str, ...] = (
    "additionalItems",
    "additionalProperties",
    "allOf",
    "const",
    "contains",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "maxItems",
    "maxLength",
    "maxProperties",
    "maximum",
    "minItems",
    "minLength",
    "minProperties",
    "minimum",
    "multipleOf",
    "not",
    "oneOf",
    "pattern",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "uniqueItems",
)


def keyword_code(keyword: str) -> str:
    """The code of a JSON Schema keyword's violation: ``maxLength`` → ``max_length`` (as the plan checker names it)."""
    return "".join("_" + c.lower() if c.isupper() else c for c in keyword)


def _keyword_entry(keyword: str) -> Code:
    return Code(
        keyword_code(keyword),
        "plan",
        DROPPED,
        f"A value that breaks the plan's `{keyword}` rule.",
        f"Send a value that meets the plan's `{keyword}` (the finding's `expected` says the limit), or change "
        "the plan.",
    )


#: Every code, by code.
CODES: dict[str, Code] = {entry.code: entry for entry in (*_ENTRIES, *map(_keyword_entry, SCHEMA_KEYWORDS))}


def family(library: str | None) -> str | None:
    """The library family of a ``context.library.name`` (``@segment/analytics-node`` → ``analytics-node``)."""
    if not library:
        return None
    return _FAMILY.get(library.strip().lower())


def remedy(code: str, library: str | None = None) -> str | None:
    """The fix for ``code``, in the words for ``library`` when it has its own (``None``: unknown code)."""
    entry = CODES.get(code)
    if entry is None:
        return None
    lib = family(library)
    return entry.libraries.get(lib, entry.fix) if lib else entry.fix


def consequence(code: str, default: str = ALTERED) -> str:
    """What Segment does to an event with this code (``default`` for a code the table does not know)."""
    entry = CODES.get(code)
    return entry.consequence if entry is not None else default


def close_codes(code: str, n: int = 3) -> list[str]:
    """Known codes spelled like ``code``, for an error about an unknown one."""
    return get_close_matches(code, list(CODES), n=n, cutoff=0.5)


def explain(code: str) -> str:
    """The whole entry as text, for `segdbg check --explain CODE` (raises KeyError for an unknown code)."""
    entry = CODES[code]
    lines = [
        f"{entry.code}  ({entry.category}, {entry.consequence}: {CONSEQUENCE_TEXT[entry.consequence]})",
        "",
        entry.summary,
        "",
        f"Fix: {entry.fix}",
    ]
    for lib, text in entry.libraries.items():
        lines.append(f"  {lib}: {text}")
    lines += ["", "docs/problems.md lists every code."]
    return "\n".join(lines)
