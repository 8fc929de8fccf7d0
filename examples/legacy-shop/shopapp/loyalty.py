"""Loyalty points. This stays in Python: it is cheap, and marketing changes it monthly."""

from __future__ import annotations

TIER_MULTIPLIERS = {"basic": 1.0, "silver": 1.25, "gold": 2.0}


def loyalty_points(total_cents: int, tier: str) -> int:
    """The points an order of `total_cents` earns: one per whole euro, times the tier's
    multiplier, rounded down. Unknown tiers earn as "basic"."""
    if total_cents < 0:
        raise ValueError(f"total_cents must not be negative, not {total_cents}")
    return int(total_cents // 100 * TIER_MULTIPLIERS.get(tier, 1.0))
