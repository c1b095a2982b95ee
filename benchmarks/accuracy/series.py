"""The series `make bench-accuracy` scores: public data sets that ship inside packages (no
download) and five GBM random walks, each with its season length (1: none); trending and short
series and short walks are scored when named."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

GBM_SEEDS = (1, 2, 3, 4, 5)
GBM_LENGTH = 1000
# Short random walks, scored only when named (walk150_1000, ...): a short history of prices,
# where the validation windows are few and a model beats the last price on them by luck.
SHORT_WALK_SEEDS = tuple(range(1000, 1012))
SHORT_WALK_LENGTH = 150


@dataclass(frozen=True)
class BenchSeries:
    name: str
    values: np.ndarray
    season_length: int
    kind: str  # "public" or "random walk"


def _pmdarima(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import pmdarima.datasets

        return np.asarray(getattr(pmdarima.datasets, f"load_{name}")(), dtype=np.float64)

    return load


def _ausbeer() -> np.ndarray:
    """Quarterly beer production; the packaged file ends with one missing quarter, dropped."""
    values = _pmdarima("ausbeer")()
    return values[np.isfinite(values)]


def _msft() -> np.ndarray:
    """Microsoft's daily closing prices: a real stock, where the last price is hard to beat."""
    import pmdarima.datasets

    return pmdarima.datasets.load_msft()["Close"].to_numpy(np.float64)


def _statsmodels(dataset: str, column: str) -> Callable[[], np.ndarray]:
    """One column of a data set statsmodels ships."""

    def load() -> np.ndarray:
        import statsmodels.api as sm

        table = getattr(sm.datasets, dataset).load_pandas().data
        return table[column].to_numpy(np.float64)

    return load


def _elnino() -> np.ndarray:
    """Monthly sea surface temperatures, one row per year: read row by row into one series."""
    import statsmodels.api as sm

    table = sm.datasets.elnino.load_pandas().data.drop(columns="YEAR")
    return table.to_numpy(np.float64).ravel()


PUBLIC: dict[str, tuple[Callable[[], np.ndarray], int]] = {
    "wineind": (_pmdarima("wineind"), 12),
    "woolyrnq": (_pmdarima("woolyrnq"), 4),
    "airpassengers": (_pmdarima("airpassengers"), 12),
    "taylor": (_pmdarima("taylor"), 48),
    "lynx": (_pmdarima("lynx"), 1),
    "heartrate": (_pmdarima("heartrate"), 1),
    "nile": (_statsmodels("nile", "volume"), 1),
    "elnino": (_elnino, 12),
    "ausbeer": (_ausbeer, 4),
    "sunspots": (_pmdarima("sunspots"), 1),
    "msft": (_msft, 1),
}


def _co2() -> np.ndarray:
    """Mauna Loa CO2, weekly with gaps: monthly means, a gap month carrying the last one."""
    import statsmodels.api as sm

    weekly = sm.datasets.co2.load_pandas().data["co2"]
    return weekly.resample("MS").mean().ffill().to_numpy(np.float64)


def _fertility(country: str) -> Callable[[], np.ndarray]:
    """A country's yearly fertility rate, 1960-2013 (the World Bank's; its missing years
    dropped)."""

    def load() -> np.ndarray:
        import statsmodels.api as sm

        table = sm.datasets.fertility.load_pandas().data.set_index("Country Name")
        values = table.loc[country, [str(year) for year in range(1960, 2014)]]
        values = values.to_numpy(np.float64)
        return values[np.isfinite(values)]

    return load


# Scored only when named (--series): series that trend out of the range they were fitted on,
# where a member that reads the absolute level extrapolates (fit.level_members_max_outside),
# and short yearly and quarterly series, where every choice rests on a handful of windows.
TRENDING: dict[str, tuple[Callable[[], np.ndarray], int]] = {
    "austres": (_pmdarima("austres"), 4),
    "co2": (_co2, 12),
    # Quarterly US series, 1959-2009, seasonally adjusted: no season.
    "realgdp": (_statsmodels("macrodata", "realgdp"), 1),
    "realcons": (_statsmodels("macrodata", "realcons"), 1),
    "realinv": (_statsmodels("macrodata", "realinv"), 1),
    "cpi": (_statsmodels("macrodata", "cpi"), 1),
    "m1": (_statsmodels("macrodata", "m1"), 1),
}
SHORT: dict[str, tuple[Callable[[], np.ndarray], int]] = {
    # Quarterly Danish series, 1974-1987: 55 values.
    **{
        f"dk_{column}": (_statsmodels("danish_data", column), 4)
        for column in ("lrm", "lry", "lpy", "ibo", "ide")
    },
    **{
        f"fertility_{country.lower()}": (_fertility(country), 1)
        for country in ("Australia", "Brazil", "China", "India", "Japan", "Kenya")
    },
}
# Five more quarterly US series (1959-2009), kept out of every choice of a default: scored to
# check, once a rule is fixed, that it holds on series it was not chosen on.
CHECK: dict[str, tuple[Callable[[], np.ndarray], int]] = {
    column: (_statsmodels("macrodata", column), 1)
    for column in ("realgovt", "realdpi", "pop", "unemp", "tbilrate")
}
NAMED_ONLY = {**TRENDING, **SHORT, **CHECK}


def series_names() -> list[str]:
    """Every name `load_bench_series` knows."""
    return [
        *PUBLIC,
        *NAMED_ONLY,
        *(f"gbm_{seed}" for seed in GBM_SEEDS),
        *(f"walk{SHORT_WALK_LENGTH}_{seed}" for seed in SHORT_WALK_SEEDS),
    ]


def gbm_series(seed: int, length: int = GBM_LENGTH) -> np.ndarray:
    from stockcast.data.sources import geometric_brownian_motion

    return geometric_brownian_motion(length, 100.0, 1e-4, 0.02, seed)


class SeriesUnavailable(RuntimeError):
    """A named series whose data set's package is not installed."""


def load_bench_series(names: list[str] | None = None) -> list[BenchSeries]:
    """Every public series and random walk (or those named, the trending and short ones
    included). A public one whose package is missing is skipped with a line on stderr, or
    refused where it was named: a run asked for it would otherwise score nothing."""
    out: list[BenchSeries] = []
    missing: dict[str, list[str]] = {}  # package: the series that need it
    for name, (load, season) in [*PUBLIC.items(), *NAMED_ONLY.items()]:
        if (names and name not in names) or (not names and name in NAMED_ONLY):
            continue
        try:
            out.append(BenchSeries(name, load(), season, "public"))
        except ImportError as err:
            missing.setdefault(err.name or str(err), []).append(name)
    if missing:
        found = " and ".join(
            f"{', '.join(needing)} need{'s' if len(needing) == 1 else ''} {package}"
            for package, needing in missing.items()
        )
        verb = "is" if len(missing) == 1 else "are"
        advice = "`make bench-accuracy` installs the data sets with the peers (.[peers])"
        if names:
            raise SeriesUnavailable(f"{found}, which {verb} not installed; {advice}.")
        print(f"skipping {found}, which {verb} not installed; {advice}.", file=sys.stderr)
    for seed in GBM_SEEDS:
        name = f"gbm_{seed}"
        if not names or name in names:
            out.append(BenchSeries(name, gbm_series(seed), 1, "random walk"))
    for seed in SHORT_WALK_SEEDS:
        name = f"walk{SHORT_WALK_LENGTH}_{seed}"
        if names and name in names:
            out.append(BenchSeries(name, gbm_series(seed, SHORT_WALK_LENGTH), 1, "random walk"))
    return out
