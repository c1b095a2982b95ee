"""The panel every part of the panel benchmark measures: `experiment=market_global` over a pinned
number of business days per ticker."""

from __future__ import annotations

from collections.abc import Sequence

EXPERIMENT = "market_global"
PANEL_DAYS = 2520  # ten years of business days per ticker
# Pinned so the panel is the same every day (data.as_of defaults to today, which would slide the
# trailing 2,520-day window); 2015-01-01 to here holds 2,609 business days, enough for PANEL_DAYS.
PANEL_AS_OF = "2024-12-31"


def panel_overrides(series: int, extra: Sequence[str] = ()) -> list[str]:
    return [
        f"experiment={EXPERIMENT}",
        f"data.num_series={series}",
        f"data.length={PANEL_DAYS}",
        f"data.as_of={PANEL_AS_OF}",
        *extra,
    ]
