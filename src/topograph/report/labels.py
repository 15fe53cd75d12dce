"""Words for the pages that are not a kind's own (those come from topograph.kinds): unit, explained variance."""
from __future__ import annotations


def unit_of(attrs: dict) -> str:
    return "epoch" if attrs.get("unit") == "epoch" else "step"


def variance_text(attrs: dict) -> str | None:
    ratio = attrs.get("explained_variance_ratio")
    if not ratio:
        return None
    parts = [f"PC{i + 1} {100 * r:.1f} %" for i, r in enumerate(ratio[:2])]
    return ", ".join(parts) + f" (together {100 * sum(ratio[:2]):.1f} %)"
