"""Data only: the Segment Spec's semantic events, reserved fields and currency codes.

Sources (docs/protocol.md §13): D-ECOM (``spec/ecommerce/v2.md``, ``mobile.md``, ``email.md``,
``b2b-saas.md``), ``spec/video.md``, ``spec/identify.md``, ``spec/group.md``, ``spec/track.md``,
``spec/page.md``. Types are written compactly and read by :mod:`debugger.core.lint.semantic`:

``s`` string · ``n`` number · ``b`` boolean · ``o`` object · ``a`` array · ``d`` ISO-8601 date
string · ``s[]`` array of strings · ``o[]`` array of objects · ``p[]`` array of product objects
(:data:`PRODUCT`) · ``c`` ISO 4217 currency code · ``a|b`` either. ``null`` is always accepted:
the spec's own examples send ``ad_asset_id: null``.

Where the spec's table and its own examples disagree, the examples win (they are what people
copy): promotion ``position`` and review ``rating`` take strings or numbers, mobile ``build``
is sent as a number by some libraries, group ``employees`` is a count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One semantic event of the Segment Spec.

    Attributes:
        name: the exact event name.
        spec: which spec defines it (``Ecommerce v2``, ``Mobile``, ...).
        properties: property name → compact type.
        expected: groups of properties of which at least one should be present.
        item_expected: for ``products[]`` items, groups of which one should be present.
    """

    name: str
    spec: str
    properties: Mapping[str, str]
    expected: tuple[tuple[str, ...], ...] = ()
    item_expected: tuple[tuple[str, ...], ...] = field(default=())


# fmt: off
# Data tables: their hand layout (several keys a line) reads better than one key a line.
PRODUCT: Mapping[str, str] = MappingProxyType({
    "product_id": "s", "sku": "s", "category": "s", "name": "s", "brand": "s", "variant": "s",
    "price": "n", "quantity": "n", "coupon": "s", "position": "n", "url": "s", "image_url": "s",
})
_ORDER = {
    "order_id": "s", "affiliation": "s", "total": "n", "revenue": "n", "shipping": "n",
    "tax": "n", "discount": "n", "coupon": "s", "currency": "c", "products": "p[]",
}
_CHECKOUT_STEP = {"checkout_id": "s", "step": "n", "shipping_method": "s", "payment_method": "s"}
_COUPON = {"order_id": "s", "cart_id": "s", "coupon_id": "s", "coupon_name": "s", "coupon": "s"}
_WISHLIST = {"wishlist_id": "s", "wishlist_name": "s"}
_SHARE = {"share_via": "s", "share_message": "s", "recipient": "s"}
_LIST = {"list_id": "s", "category": "s", "products": "p[]"}
_PROMOTION = {"promotion_id": "s", "creative": "s", "name": "s", "position": "s|n"}

_ONE_PRODUCT = (("product_id", "sku"),)
_ORDER_ITEMS = (("product_id", "sku"), ("price",), ("quantity",))
_LIST_ITEMS = (("product_id", "sku"),)
_ANY_COUPON = (("coupon_id", "coupon", "coupon_name"),)

_ECOMMERCE: tuple[EventSpec, ...] = (
    EventSpec("Products Searched", "", {"query": "s|o"}, (("query",),)),
    EventSpec("Product List Viewed", "", _LIST, item_expected=_LIST_ITEMS),
    EventSpec("Product List Filtered", "", {**_LIST, "filters": "o[]", "sorts": "o[]"}, item_expected=_LIST_ITEMS),
    EventSpec("Promotion Viewed", "", _PROMOTION, (("promotion_id", "name", "creative"),)),
    EventSpec("Promotion Clicked", "", _PROMOTION, (("promotion_id", "name", "creative"),)),
    EventSpec("Product Clicked", "", PRODUCT, _ONE_PRODUCT),
    EventSpec("Product Viewed", "", {**PRODUCT, "currency": "c", "value": "n"}, _ONE_PRODUCT),
    EventSpec("Product Added", "", {**PRODUCT, "cart_id": "s"}, _ONE_PRODUCT),
    EventSpec("Product Removed", "", {**PRODUCT, "cart_id": "s"}, _ONE_PRODUCT),
    EventSpec("Cart Viewed", "", {"cart_id": "s", "products": "p[]"}, item_expected=_LIST_ITEMS),
    EventSpec("Checkout Started", "", {**_ORDER, "value": "n"}, item_expected=_ORDER_ITEMS),
    EventSpec("Checkout Step Viewed", "", _CHECKOUT_STEP, (("step",),)),
    EventSpec("Checkout Step Completed", "", _CHECKOUT_STEP, (("step",),)),
    EventSpec("Payment Info Entered", "", {**_CHECKOUT_STEP, "order_id": "s"}),
    EventSpec("Order Updated", "", _ORDER, (("order_id",),), _ORDER_ITEMS),
    EventSpec(
        "Order Completed", "", {**_ORDER, "checkout_id": "s", "subtotal": "n", "value": "n"},
        (("order_id",), ("products",), ("revenue", "total", "value")), _ORDER_ITEMS,
    ),
    EventSpec("Order Refunded", "", _ORDER, (("order_id",),), _ORDER_ITEMS),
    EventSpec("Order Cancelled", "", _ORDER, (("order_id",),), _ORDER_ITEMS),
    EventSpec("Coupon Entered", "", _COUPON, _ANY_COUPON),
    EventSpec("Coupon Applied", "", {**_COUPON, "discount": "n"}, _ANY_COUPON),
    EventSpec("Coupon Denied", "", {**_COUPON, "reason": "s"}, _ANY_COUPON),
    EventSpec("Coupon Removed", "", {**_COUPON, "discount": "n"}, _ANY_COUPON),
    EventSpec("Product Added to Wishlist", "", {**PRODUCT, **_WISHLIST}, _ONE_PRODUCT),
    EventSpec("Product Removed from Wishlist", "", {**PRODUCT, **_WISHLIST}, _ONE_PRODUCT),
    EventSpec("Wishlist Product Added to Cart", "", {**PRODUCT, **_WISHLIST, "cart_id": "s"}, _ONE_PRODUCT),
    EventSpec("Product Shared", "", {**PRODUCT, **_SHARE}, _ONE_PRODUCT),
    EventSpec("Cart Shared", "", {**_SHARE, "cart_id": "s", "products": "p[]"}, item_expected=_LIST_ITEMS),
    EventSpec("Product Reviewed", "", {"product_id": "s", "review_id": "s", "review_body": "s", "rating": "s|n"}, (("product_id",),)),
)

_CAMPAIGN = {"campaign": "o"}
_VERSION = {"version": "s", "build": "s|n"}
_MOBILE: tuple[EventSpec, ...] = (
    EventSpec("Application Installed", "", _VERSION),
    EventSpec("Application Opened", "", {**_VERSION, "from_background": "b", "url": "s", "referring_application": "s"}),
    EventSpec("Application Backgrounded", "", {}),
    EventSpec("Application Foregrounded", "", {}),
    EventSpec("Application Updated", "", {**_VERSION, "previous_version": "s", "previous_build": "s|n"}),
    EventSpec("Application Uninstalled", "", {}),
    EventSpec("Application Crashed", "", {}),
    EventSpec("Install Attributed", "", {"provider": "s", **_CAMPAIGN}),
    EventSpec("Push Notification Received", "", {"action": "s", **_CAMPAIGN}),
    EventSpec("Push Notification Tapped", "", {"action": "s", **_CAMPAIGN}),
    EventSpec("Push Notification Bounced", "", {"action": "s", **_CAMPAIGN}),
    EventSpec("Deep Link Opened", "", {"provider": "s", "url": "s"}),
    EventSpec("Deep Link Clicked", "", {"provider": "s", "url": "s"}),
)

_ACCOUNT = {"account_name": "s"}
_TRIAL = {"trial_start_date": "d", "trial_end_date": "d", "trial_plan_name": "s"}
_B2B: tuple[EventSpec, ...] = (
    EventSpec("Account Created", "", _ACCOUNT),
    EventSpec("Account Deleted", "", _ACCOUNT),
    EventSpec("Signed Up", "", {k: "s" for k in ("type", "first_name", "last_name", "email", "phone", "username", "title")}),
    EventSpec("Signed In", "", {"username": "s"}),
    EventSpec("Signed Out", "", {"username": "s"}),
    EventSpec("Invite Sent", "", {k: "s" for k in ("invitee_email", "invitee_first_name", "invitee_last_name", "invitee_role")}),
    EventSpec("Account Added User", "", {"role": "s"}),
    EventSpec("Account Removed User", "", {}),
    EventSpec("Trial Started", "", _TRIAL),
    EventSpec("Trial Ended", "", _TRIAL),
)

_EMAIL_BASE = {"email_id": "s", "email_subject": "s", "campaign_id": "s", "campaign_name": "s"}
_EMAIL: tuple[EventSpec, ...] = (
    EventSpec("Email Bounced", "", _EMAIL_BASE),
    EventSpec("Email Delivered", "", _EMAIL_BASE),
    EventSpec("Email Link Clicked", "", {**_EMAIL_BASE, "link_id": "s", "link_url": "s"}),
    EventSpec("Email Marked as Spam", "", _EMAIL_BASE),
    EventSpec("Email Opened", "", _EMAIL_BASE),
    EventSpec("Unsubscribed", "", {**_EMAIL_BASE, "list_id": "s", "list_name": "s"}),
)

_PLAYBACK = {
    "session_id": "s", "content_asset_id": "s", "content_asset_ids": "s[]", "content_pod_id": "s",
    "content_pod_ids": "s[]", "ad_asset_id": "s|s[]", "ad_asset_ids": "s[]", "ad_pod_id": "s|s[]",
    "ad_pod_ids": "s[]", "ad_type": "s|s[]", "ad_types": "s[]", "position": "n", "total_length": "n",
    "bitrate": "n", "framerate": "n", "video_player": "s", "sound": "n", "full_screen": "b",
    "ad_enabled": "b", "quality": "s", "method": "s", "livestream": "b", "seek_position": "n",
}
_CONTENT = {
    "session_id": "s", "asset_id": "s", "pod_id": "s", "title": "s", "description": "s",
    "keywords": "s[]", "season": "s|n", "episode": "s|n", "genre": "s", "program": "s",
    "publisher": "s", "position": "n", "total_length": "n", "channel": "s", "full_episode": "b",
    "livestream": "b", "airdate": "d", "bitrate": "n", "framerate": "n",
}
_AD = {
    "session_id": "s", "asset_id": "s", "pod_id": "s", "pod_position": "n", "pod_length": "n",
    "type": "s", "title": "s", "publisher": "s", "position": "n", "total_length": "n",
    "load_type": "s", "content": "o", "quartile": "n",
}
_VIDEO: tuple[EventSpec, ...] = (
    *(
        EventSpec(f"Video Playback {action}", "", _PLAYBACK)
        for action in (
            "Started", "Paused", "Interrupted", "Buffer Started", "Buffer Completed",
            "Seek Started", "Seek Completed", "Resumed", "Completed", "Exited",
        )
    ),
    *(EventSpec(f"Video Content {action}", "", _CONTENT) for action in ("Started", "Playing", "Completed")),
    *(EventSpec(f"Video Ad {action}", "", _AD) for action in ("Started", "Playing", "Completed")),
    EventSpec("Video Quality Updated", "", {"bitrate": "n", "framerate": "n", "startupTime": "n", "droppedFrames": "n"}),
)


def _named(specs: tuple[EventSpec, ...], spec: str) -> dict[str, EventSpec]:
    return {
        s.name: EventSpec(s.name, spec, MappingProxyType(dict(s.properties)), s.expected, s.item_expected)
        for s in specs
    }


#: Every semantic event, by exact name.
SEMANTIC_EVENTS: Mapping[str, EventSpec] = MappingProxyType({
    **_named(_ECOMMERCE, "Ecommerce v2"),
    **_named(_MOBILE, "Mobile"),
    **_named(_B2B, "B2B SaaS"),
    **_named(_VIDEO, "Video"),
    **_named(_EMAIL, "Email"),
})

#: Ecommerce v1 names (and their v2 replacement) that Segment still aliases.
V1_ALIASES: Mapping[str, str] = MappingProxyType({
    "Viewed Product Category": "Product List Viewed",
    "Viewed Product": "Product Viewed",
    "Clicked Product": "Product Clicked",
    "Added Product": "Product Added",
    "Removed Product": "Product Removed",
    "Viewed Promotion": "Promotion Viewed",
    "Clicked Promotion": "Promotion Clicked",
    "Started Order": "Checkout Started",
    "Viewed Checkout Step": "Checkout Step Viewed",
    "Completed Checkout Step": "Checkout Step Completed",
    "Entered Payment Info": "Payment Info Entered",
    "Updated Order": "Order Updated",
    "Completed Order": "Order Completed",
    "Refunded Order": "Order Refunded",
    "Cancelled Order": "Order Cancelled",
    "Searched Products": "Products Searched",
    "Filtered Product List": "Product List Filtered",
})

#: Reserved identify traits (identify.md); camelCase or snake_case both count.
IDENTIFY_TRAITS: Mapping[str, str] = MappingProxyType({
    "address": "o", "age": "n", "avatar": "s", "birthday": "d", "company": "o", "createdAt": "d",
    "description": "s", "email": "s", "firstName": "s", "gender": "s", "id": "s|n",
    "lastName": "s", "name": "s", "phone": "s", "title": "s", "username": "s", "website": "s",
})
#: Reserved group traits (group.md).
GROUP_TRAITS: Mapping[str, str] = MappingProxyType({
    "address": "o", "avatar": "s", "createdAt": "d", "description": "s", "email": "s",
    "employees": "s|n", "id": "s|n", "industry": "s", "name": "s", "phone": "s", "website": "s",
    "plan": "s",
})
#: Reserved properties of every track call (track.md).
TRACK_PROPERTIES: Mapping[str, str] = MappingProxyType({"revenue": "n", "currency": "c", "value": "n"})
#: Reserved properties of page calls (page.md).
PAGE_PROPERTIES: Mapping[str, str] = MappingProxyType({
    "name": "s", "path": "s", "referrer": "s", "search": "s", "title": "s", "url": "s", "keywords": "s[]",
})

#: ISO 4217 alphabetic codes in use (plus the funds/metals codes people meet in payment APIs).
CURRENCIES: frozenset[str] = frozenset(
    [
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
        "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF",
        "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
        "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR",
        "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD",
        "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
        "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK",
        "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP",
        "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD",
        "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF",
        "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XTS", "XUA",
        "XXX", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
    ]
)
# fmt: on
