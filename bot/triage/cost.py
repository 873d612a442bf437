"""Estimated cost of a model call from token usage and a per-model price table."""

from __future__ import annotations

from collections.abc import Mapping


def price_for(model: str, prices: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
    """Exact name first, then the longest known prefix (dated snapshots share their family's price)."""
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    if matches:
        return prices[max(matches, key=len)]
    return (0.0, 0.0)


def estimate_cost(
    model: str, tokens_in: int, tokens_out: int, prices: Mapping[str, tuple[float, float]]
) -> float:
    """USD for one call; prices are per million tokens (input, output); unknown models cost 0."""
    price_in, price_out = price_for(model, prices)
    return round((tokens_in * price_in + tokens_out * price_out) / 1_000_000, 8)
