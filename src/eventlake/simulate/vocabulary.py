"""The simulated shop's vocabulary: event types, devices, referrers, coupons, countries, product
families, and the constants of traffic and the shopping funnel.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MIN_LATE_MS = 2 * HOUR_MS
"""A late event is held back at least this long (and at most ``max_late_days``)."""

EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
VIEW, CART, REMOVE, PURCHASE = range(4)
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_WEIGHTS = (0.62, 0.31, 0.07)
REFERRERS = (
    "google",
    "direct",
    "newsletter",
    "facebook",
    "instagram",
    "tiktok",
    "bing",
    "affiliate",
)
REFERRER_WEIGHTS = (0.38, 0.22, 0.1, 0.09, 0.08, 0.06, 0.04, 0.03)
COUPONS = ("WELCOME10", "SPRING15", "FREESHIP", "VIP20", "BLACKFRIDAY", "SAVE5", "APP10")

# code, traffic weight, currency, UTC offset (hours), units per USD, decimals in use
COUNTRIES = (
    ("US", 0.21, "USD", -5, 1.0, 2),
    ("DE", 0.12, "EUR", 1, 0.92, 2),
    ("GB", 0.09, "GBP", 0, 0.79, 2),
    ("FR", 0.08, "EUR", 1, 0.92, 2),
    ("PL", 0.06, "PLN", 1, 3.98, 2),
    ("NL", 0.05, "EUR", 1, 0.92, 2),
    ("ES", 0.05, "EUR", 1, 0.92, 2),
    ("IT", 0.05, "EUR", 1, 0.92, 2),
    ("SE", 0.03, "SEK", 1, 10.4, 2),
    ("BR", 0.05, "BRL", -3, 5.0, 2),
    ("CA", 0.04, "CAD", -5, 1.36, 2),
    ("MX", 0.03, "MXN", -6, 17.1, 2),
    ("IN", 0.04, "INR", 5, 83.0, 2),
    ("JP", 0.03, "JPY", 9, 150.0, 0),
    ("AU", 0.03, "AUD", 10, 1.52, 2),
    ("CZ", 0.02, "CZK", 1, 23.0, 2),
    ("CH", 0.02, "CHF", 1, 0.88, 2),
)


@dataclass(frozen=True)
class Family:
    name: str
    weight: float
    median_usd: float
    sigma: float
    subcategories: tuple[tuple[str, float], ...]
    """(dot path under the family, price factor)."""
    brands: tuple[str, ...]
    """Most popular first."""


FAMILIES = (
    Family(
        "electronics", 0.24, 220, 0.75,
        (("smartphone", 1.6), ("tablet", 1.3), ("video.tv", 2.2), ("audio.headphone", 0.35),
         ("audio.speaker", 0.5), ("clocks", 0.9), ("camera.photo", 2.0), ("telephone", 0.2)),
        ("samsung", "apple", "xiaomi", "huawei", "sony", "lg", "oppo", "jbl", "lenovo"),
    ),
    Family(
        "appliances", 0.12, 150, 0.8,
        (("kitchen.refrigerators", 2.8), ("kitchen.washer", 2.2), ("kitchen.microwave", 0.6),
         ("kitchen.kettle", 0.2), ("kitchen.blender", 0.35), ("environment.vacuum", 0.9),
         ("environment.air_conditioner", 2.0), ("personal.hair_dryer", 0.25), ("iron", 0.2)),
        ("bosch", "samsung", "lg", "philips", "beko", "indesit", "electrolux", "dyson", "tefal"),
    ),
    Family(
        "computers", 0.10, 320, 0.9,
        (("notebook", 2.4), ("desktop", 2.6), ("components.videocards", 1.5),
         ("components.memory", 0.25), ("peripherals.mouse", 0.08), ("peripherals.keyboard", 0.15),
         ("peripherals.monitor", 0.8), ("peripherals.printer", 0.6)),
        ("lenovo", "hp", "asus", "acer", "dell", "apple", "logitech", "msi", "kingston"),
    ),
    Family(
        "apparel", 0.12, 40, 0.7,
        (("shoes", 1.6), ("shoes.sneakers", 1.8), ("jacket", 2.4), ("trousers", 1.0),
         ("shirt", 0.8), ("tshirt", 0.5), ("dress", 1.3), ("underwear", 0.3), ("scarf", 0.4)),
        ("nike", "adidas", "puma", "zara", "levis", "reebok", "new_balance", "mango"),
    ),
    Family(
        "furniture", 0.06, 140, 0.9,
        (("living_room.sofa", 3.5), ("living_room.cabinet", 1.5), ("bedroom.bed", 3.0),
         ("kitchen.table", 1.6), ("kitchen.chair", 0.5), ("office.chair", 1.2),
         ("bathroom.mirror", 0.4)),
        ("ikea", "brw", "hoff", "kettler", "signal", "halmar"),
    ),
    Family(
        "kids", 0.07, 28, 0.8,
        (("toys", 1.0), ("dolls", 0.8), ("carriage", 6.0), ("swing", 3.0), ("skates", 1.8),
         ("puzzle", 0.5)),
        ("lego", "mattel", "hasbro", "chicco", "hape", "fisher_price"),
    ),
    Family(
        "sport", 0.07, 75, 0.9,
        (("bicycle", 5.0), ("tennis", 1.0), ("ski", 4.0), ("trainer", 3.0),
         ("fitness.dumbbells", 0.6), ("camping.tent", 1.8)),
        ("stern", "nordica", "head", "wilson", "salomon", "kettler"),
    ),
    Family(
        "beauty", 0.09, 22, 0.7,
        (("perfume", 2.5), ("skincare", 1.0), ("makeup", 0.8), ("hair_care", 0.6),
         ("shaving", 0.9)),
        ("loreal", "nivea", "dior", "chanel", "maybelline", "gillette", "garnier"),
    ),
    Family(
        "auto", 0.05, 55, 1.0,
        (("accessories.player", 1.8), ("accessories.videoregister", 1.6),
         ("accessories.compressor", 1.0), ("parts.oil", 0.6), ("parts.tires", 2.2)),
        ("bosch", "michelin", "continental", "castrol", "pioneer", "xiaomi"),
    ),
    Family(
        "construction", 0.08, 60, 0.9,
        (("tools.drill", 1.6), ("tools.saw", 1.8), ("tools.screw", 0.3), ("tools.light", 0.4),
         ("components.faucet", 0.9)),
        ("makita", "bosch", "dewalt", "metabo", "stanley", "karcher"),
    ),
)  # fmt: skip

# Activity by local hour of day (0 = midnight), shared by every country.
LOCAL_HOUR_PROFILE = (
    0.28, 0.17, 0.11, 0.08, 0.08, 0.11, 0.22, 0.42, 0.62, 0.78, 0.88, 0.94,
    1.0, 0.96, 0.92, 0.92, 0.96, 1.05, 1.2, 1.36, 1.42, 1.28, 0.95, 0.55,
)  # fmt: skip
WEEKEND_FACTOR = 1.15

# Funnel: a session's cart propensity per view is Beta(a, b) (mean about 7 %).
CART_BETA = (0.6, 8.0)
PURCHASE_GIVEN_CART = 0.36
REMOVE_GIVEN_UNPURCHASED_CART = 0.3
VIEWS_PER_SESSION_P = 0.2
"""Views per session are geometric with this p (mean 5), capped at ``MAX_VIEWS``."""
MAX_VIEWS = 40
VIEW_GAP_MS = 45_000
EVENTS_PER_USER = 40
RETRY_MEAN_MS = 3_000
"""A duplicate follows its original by this long on average (at most a minute)."""
REFERRER_SHARE = 0.7
"""Share of version-2 sessions that carry a referrer."""
COUPON_SHARE = 0.25
"""Share of version-2 cart and purchase events that carry a coupon code."""
