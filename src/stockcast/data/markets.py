"""Synthetic markets: one fixed price path per seed on a business-day calendar, seen up to as_of.

A market starts at `data.start_date` and has one value per business day. Its random numbers are
drawn in time order, so a longer path has every shorter one as its prefix: a later `data.as_of`
reveals more of the same path and never rewrites the past (as_of + 1 business day = one more
value). `data.length`, when set, keeps only the most recent values (a trailing history cap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stockcast.data.calendar import business_days, day_text, parse_day, refuse_after_today
from stockcast.data.series import Series
from stockcast.errors import ConfigError, TooEarly

# Independent random streams of one seed: the tickers' parameters, and the daily shocks.
PARAMETER_STREAM = 0
SHOCK_STREAM = 1
# The most values (business days x tickers) a market panel is generated with: its shocks, returns
# and paths are held whole, several copies at once (about 2.5 GB at this many), and
# data.num_series=10000000 was numpy's MemoryError traceback asking for 232 GiB.
MAX_PANEL_VALUES = 50_000_000


def geometric_brownian_motion(
    length: int, start_price: float, drift: float, volatility: float, seed: int
) -> np.ndarray:
    """Exact GBM path: log-returns are N(drift - volatility²/2, volatility²), first value = start."""
    rng = np.random.default_rng(seed)
    log_returns = rng.normal(drift - 0.5 * volatility**2, volatility, size=length - 1)
    return start_price * np.exp(np.concatenate([[0.0], np.cumsum(log_returns)]))


def trend_seasonal_noise(
    length: int,
    start_price: float,
    trend: float,
    season_length: int,
    amplitude: float,
    noise_std: float,
    seed: int,
) -> np.ndarray:
    """Linear trend + sine season + Gaussian noise: a series with structure a model can learn."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    season = amplitude * np.sin(2.0 * np.pi * t / season_length)
    return start_price + trend * t + season + rng.normal(0.0, noise_std, size=length)


def _log_uniform(u: np.ndarray, bounds: Sequence[float]) -> np.ndarray:
    low, high = np.log(float(bounds[0])), np.log(float(bounds[1]))
    return np.exp(low + u * (high - low))


def market_panel(n_days: int, num_series: int, cfg: Mapping[str, Any]) -> np.ndarray:
    """(n_days, num_series) prices of tickers that share one market factor.

    Ticker i's log-return on day t is `drift + beta_i * m_t + sigma_i * e_it - sigma_i²/2`, with
    the market's return `m_t ~ N(market_drift - market_volatility²/2, market_volatility²)`;
    beta, sigma and the start price vary by ticker. Shocks are drawn day-major (the market's and
    every ticker's for day 1, then day 2, ...), so the panel of a later as_of extends this one.
    """
    seed = int(cfg["seed"])
    # One row of parameters per ticker: ticker i's do not depend on how many tickers there are.
    u = np.random.default_rng([seed, PARAMETER_STREAM]).random((num_series, 3))
    sigma = _log_uniform(u[:, 0], cfg["volatility_range"])
    beta_low, beta_high = (float(b) for b in cfg["beta_range"])
    beta = beta_low + u[:, 1] * (beta_high - beta_low)
    start = _log_uniform(u[:, 2], cfg["start_price_range"])
    shocks = np.random.default_rng([seed, SHOCK_STREAM]).standard_normal(
        (max(n_days - 1, 0), num_series + 1)
    )
    market_sigma = float(cfg["market_volatility"])
    market = float(cfg["market_drift"]) - 0.5 * market_sigma**2 + market_sigma * shocks[:, :1]
    log_returns = float(cfg["drift"]) - 0.5 * sigma**2 + beta * market + sigma * shocks[:, 1:]
    paths = np.concatenate([np.zeros((1, num_series)), np.cumsum(log_returns, axis=0)])
    return start * np.exp(paths[:n_days])


def market_days(cfg: Mapping[str, Any]) -> np.ndarray:
    """The market's business days from `data.start_date` to `data.as_of`, refusing an as_of
    before the market opens, or after today: prices of days that have not come would register
    a model of data no later run can pass (data.require_new_data) until that day."""
    start = parse_day(cfg["start_date"], "data.start_date")
    as_of = parse_day(cfg["as_of"], "data.as_of")
    refuse_after_today(as_of, "a market")
    days = business_days(start, as_of)
    if not len(days):
        raise TooEarly(
            f"data.as_of={day_text(as_of)} is before the market's first business day "
            f"({_first_business_day(start)}), so there is no data yet",
            " or an earlier data.start_date",
        )
    return days


def _first_business_day(start: np.datetime64) -> str:
    """The day the market opens, as the refusal of an earlier as_of names it: data.start_date,
    or the business day a weekend start rolls forward to (an as_of of the Sunday after a
    Saturday start was said to be before the Saturday)."""
    opens = np.busday_offset(start, 0, roll="forward")
    if opens == start:
        return f"data.start_date={day_text(start)}"
    return f"{day_text(opens)}, the business day data.start_date={day_text(start)} rolls to"


def _trailing(series: Series, length: int | None) -> Series:
    if length is None or len(series) <= int(length):
        return series
    keep = slice(len(series) - int(length), None)
    assert series.dates is not None
    return Series(series.series_id, series.values[keep], series.dates[keep])


def _dated(series_id: str, values: np.ndarray, days: np.ndarray) -> Series:
    return Series(series_id, values, days.astype("datetime64[ns]"))


def _one_market(
    cfg: Mapping[str, Any], series_id: str, generate: Any, *params: str
) -> list[Series]:
    """One dated series: `generate(length, *cfg[params], seed)` over the market's business days."""
    days = market_days(cfg)
    values = generate(len(days), *(cfg[name] for name in params), int(cfg["seed"]))
    return [_trailing(_dated(series_id, values, days), cfg.get("length"))]


def gbm_market(cfg: Mapping[str, Any]) -> list[Series]:
    return _one_market(cfg, "gbm", geometric_brownian_motion, "start_price", "drift", "volatility")


def seasonal_market(cfg: Mapping[str, Any]) -> list[Series]:
    return _one_market(
        cfg,
        "seasonal",
        trend_seasonal_noise,
        "start_price",
        "trend",
        "season_length",
        "amplitude",
        "noise_std",
    )


def ticker_ids(num_series: int) -> list[str]:
    """`T0001`, `T0002`, ...: zero-padded so they sort in ticker order."""
    width = max(4, len(str(num_series)))
    return [f"T{i:0{width}d}" for i in range(1, num_series + 1)]


def multi_ticker_market(cfg: Mapping[str, Any]) -> list[Series]:
    days = market_days(cfg)
    num_series = int(cfg["num_series"])
    refuse_a_panel_too_large(len(days), num_series, cfg)
    panel = market_panel(len(days), num_series, cfg)
    return [
        _trailing(_dated(ticker, np.ascontiguousarray(panel[:, i]), days), cfg.get("length"))
        for i, ticker in enumerate(ticker_ids(num_series))
    ]


def refuse_a_panel_too_large(n_days: int, num_series: int, cfg: Mapping[str, Any]) -> None:
    """One sentence where the panel would hold more than `MAX_PANEL_VALUES` values, before any
    is drawn. data.length does not help: every path is drawn from data.start_date, so that a
    later as_of extends it."""
    values = n_days * num_series
    if values > MAX_PANEL_VALUES:
        raise ConfigError(
            f"data.num_series={num_series} tickers over the {n_days} business days from "
            f"data.start_date={cfg['start_date']} to data.as_of={cfg['as_of']} are {values:,} "
            f"values, more than a market holds (at most {MAX_PANEL_VALUES:,}); lower "
            "data.num_series, or give a later data.start_date."
        )


def available_values(cfg: Mapping[str, Any]) -> int:
    """How many values each series of a market has up to as_of, before any `length` cap."""
    return len(market_days(cfg))
