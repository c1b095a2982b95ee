"""Bad data is refused before any work, in one sentence naming rows or dates and the fix; a
pipeline fed it exits 2 and writes nothing to the registry; JSON outputs are valid JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.config.compose import plain
from stockcast.data.prepared import prepare_data
from stockcast.data.sources import read_csv_series, read_table_series
from stockcast.errors import DataError
from stockcast.files import write_json
from tests.conftest import run_cli
from tests.reliability_helpers import assert_one_sentence_refusal, shared_pipeline_run

N = 120


def prices(n: int = N, start: float = 100.0, seed: int = 0) -> np.ndarray:
    return start * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n)))


def dated(values: np.ndarray, start: str = "2024-01-01") -> pd.DataFrame:
    return pd.DataFrame({"Date": pd.bdate_range(start, periods=len(values)), "Close": values})


def two_tickers() -> pd.DataFrame:
    """A Yahoo-style long file: Date, Ticker, Close, the tickers interleaved."""
    frames = [
        dated(prices(seed=1)).assign(Ticker="AAA"),
        dated(3 * prices(seed=2)).assign(Ticker="BBB"),
    ]
    return pd.concat(frames).sort_values(["Date", "Ticker"])[["Date", "Ticker", "Close"]]


def with_duplicate_date() -> pd.DataFrame:
    frame = dated(prices())
    return pd.concat([frame.iloc[:50], frame.iloc[49:50], frame.iloc[50:]])


def with_value(row: int, value: float) -> Callable[[], pd.DataFrame]:
    def make() -> pd.DataFrame:
        frame = dated(prices())
        frame.loc[row, "Close"] = value
        return frame

    return make


BAD_FILES: dict[str, tuple[Callable[[], pd.DataFrame], tuple[str, ...], tuple[str, ...]]] = {
    # name: (file, extra overrides, phrases the one sentence must hold)
    "interleaved tickers without id_column": (
        two_tickers,
        (),
        ("repeats dates", "2 series interleaved", "set data.id_column=Ticker"),
    ),
    "a repeated date": (
        with_duplicate_date,
        (),
        ("repeated date", "(2024-03-08 at data rows 50, 51)", "drop the duplicates"),
    ),
    "a repeated date within one ticker": (
        lambda: pd.concat([two_tickers(), two_tickers().iloc[:1]]),
        ("data.id_column=Ticker",),
        ("repeated date of series 'AAA'", "2024-01-01"),
    ),
    "an infinite price": (
        with_value(30, np.inf),
        (),
        ("1 non-finite value(s)", "on 2024-02-12", "fix or drop them"),
    ),
    "a zero price": (
        with_value(30, 0.0),
        (),
        ("at or below 0", "on 2024-02-12", "data.allow_non_positive=true"),
    ),
    "a negative price": (
        with_value(31, -5.0),
        (),
        ("at or below 0", "on 2024-02-13", "(first -5)"),
    ),
    "prices near 1e300": (
        lambda: dated(prices() * 1e300),
        (),
        ("too large for the model's float32", "rescale the data"),
    ),
}


def csv_overrides(path: Path, *extra: str) -> list[str]:
    return [
        "data=csv",
        f"data.path={path}",
        "data.previous_time_window=5",
        "data.next_time_window=2",
        *extra,
    ]


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_data_is_one_sentence_naming_where_and_the_fix(
    case: str, tmp_path: Path, make_cfg
) -> None:
    build, extra, phrases = BAD_FILES[case]
    path = tmp_path / "prices.csv"
    build().to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        prepare_data(plain(make_cfg(*csv_overrides(path, *extra)).data))
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".")
    for phrase in phrases:
        assert phrase in message, message


def test_non_positive_values_are_accepted_when_allowed(tmp_path: Path, make_cfg) -> None:
    path = tmp_path / "temperatures.csv"
    dated(prices() - 100.0).to_csv(path, index=False)  # crosses zero
    cfg = make_cfg(*csv_overrides(path, "data.allow_non_positive=true"))
    assert prepare_data(plain(cfg.data)).meta["n_points"] == N


def test_the_id_column_must_name_every_row(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    frame = two_tickers().reset_index(drop=True)
    frame.loc[3, "Ticker"] = None
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"no 'Ticker' \(input.id_column\) at data row 4;"):
        read_csv_series(path, "Date", "Close", "Ticker", key="input")


def test_undated_series_one_after_another_need_the_id_column(tmp_path: Path) -> None:
    """Without dates, a Ticker column in runs would splice the tickers into one series."""
    path = tmp_path / "prices.csv"
    frame = two_tickers().sort_values(["Ticker", "Date"]).drop(columns="Date")
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        read_csv_series(path, None, "Close", key="input")
    assert str(caught.value) == (
        f"CSV file {path} has no dates (input.date_column=null) and its column 'Ticker' holds 2 "
        "series one after another ('AAA', 'BBB'), which would be read as one; set "
        "input.id_column=Ticker to read them as separate series, or drop the column if the file "
        "holds one series."
    )
    series = read_csv_series(path, None, "Close", "Ticker", key="input")
    assert [s.series_id for s in series] == ["AAA", "BBB"]
    # Tickers that read as months out of order, or as years (Tokyo's codes, text in Parquet),
    # are tickers still.
    frame.assign(Ticker=np.repeat(["MAR", "MAY"], N)).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"holds 2 series one after another \('MAR', 'MAY'\)"):
        read_csv_series(path, None, "Close", key="input")
    codes = tmp_path / "codes.parquet"
    frame.assign(Ticker=np.repeat(["1801", "1802"], N)).to_parquet(codes, index=False)
    with pytest.raises(DataError, match=r"holds 2 series one after another \('1801', '1802'\)"):
        read_table_series(codes, None, "Close", key="input")
    # Whole-number ids too (a CSV's ids read as numbers): they were spliced into one series.
    for ids in ([101, 202], [7203, 9984]):
        frame.assign(Ticker=np.repeat(ids, N)).to_csv(path, index=False)
        with pytest.raises(DataError, match=rf"one after another \('{ids[0]}', '{ids[1]}'\)"):
            read_csv_series(path, None, "Close", key="input")
    np.testing.assert_allclose(series[1].values, 3 * prices(seed=2), rtol=1e-12)
    # Labels of one series' rows: weekday names that cycle, a single name, and runs of days
    # (a day's intraday rows), of month names, of months or month days written YYYYMM or
    # YYYYMMDD (a month's days), of month, quarter or week numbers wrapping at a year's end,
    # or of years (one left out).
    one = dated(prices(), start="2023-10-02").assign(
        Weekday=lambda f: f["Date"].dt.day_name(),
        Ticker="AAA",
        Day=lambda f: f["Date"].dt.strftime("%Y-%m-%d").str[:8] + "01",
        Month=lambda f: f["Date"].dt.month_name(),
        YearMonth=lambda f: f["Date"].dt.strftime("%Y%m").astype(int),
        MonthDay=lambda f: f["Date"].dt.strftime("%Y%m01").astype(int),
        MonthNumber=lambda f: f["Date"].dt.month,
        Quarter=lambda f: f["Date"].dt.quarter,
        Week=lambda f: f["Date"].dt.isocalendar().week.astype(int),
        Year=lambda f: np.where(f["Date"].dt.year == 2023, 2021, 2024),
    )
    one.drop(columns="Date").to_csv(path, index=False)
    (single,) = read_csv_series(path, None, "Close", key="input")
    np.testing.assert_allclose(single.values, prices(), rtol=1e-12)


def test_a_seasonal_series_below_zero_says_how_to_allow_it(make_cfg) -> None:
    cfg = make_cfg("data=seasonal", "data.start_price=0", "data.trend=0")
    with pytest.raises(
        DataError, match=r"set data\.allow_non_positive=true if these are not prices"
    ):
        prepare_data(plain(cfg.data))


def test_json_outputs_hold_null_never_bare_nan(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "m.json",
        {"mase": float("nan"), "rows": [1.0, float("inf"), np.float32("nan")], "n": np.int64(3)},
    )
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"mase": None, "rows": [1.0, None, None], "n": 3}


def test_a_json_output_is_replaced_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed while writing used to leave a truncated file (a replay could then not be
    resumed): the new text goes to a file beside it, which then replaces it in one step."""
    import os

    path = write_json(tmp_path / "replay.json", {"days": [1]})

    def killed(source: str | Path, target: str | Path) -> None:
        assert Path(source).read_text() == '{\n  "days": [\n    1,\n    2\n  ]\n}\n'
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_json(path, {"days": [1, 2]})
    assert json.loads(path.read_text()) == {"days": [1]}
    assert [p.name for p in tmp_path.iterdir()] == ["replay.json"], "nothing left beside it"


def test_a_symlinked_json_output_is_written_through_and_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename used to replace the link itself with a plain file; and nothing reached the
    disk before the rename, so a machine stopped just after it could leave an empty file."""
    import os

    real = write_json(tmp_path / "kept" / "report.json", {"old": True})
    real.chmod(0o640)
    link = tmp_path / "report.json"
    link.symlink_to(real)
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    write_json(link, {"new": True})
    assert link.is_symlink() and json.loads(real.read_text()) == {"new": True}
    assert real.stat().st_mode & 0o777 == 0o640, "the file keeps its mode"
    assert len(synced) == 1
    assert sorted(p.name for p in real.parent.iterdir()) == ["report.json"]


def test_a_plot_is_replaced_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from stockcast.evaluation.plots import plot_forecast

    path = plot_forecast(tmp_path / "forecast.png", np.arange(30.0), np.arange(30.0, 35.0), "one")
    before = path.read_bytes()
    assert before.startswith(b"\x89PNG")

    def killed(source: str | Path, target: str | Path) -> None:
        assert Path(source).read_bytes().startswith(b"\x89PNG")
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        plot_forecast(path, np.arange(40.0), np.arange(40.0, 45.0), "two")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["forecast.png"], "nothing left beside it"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, registered_store: Path) -> Path:
    """A store with one version, so 'nothing written' means: still exactly that version."""
    return shared_pipeline_run(tmp_path_factory, registered_store).root


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_the_pipeline_refuses_bad_data_before_any_work(
    case: str, store: Path, tmp_path: Path
) -> None:
    from tests.reliability_helpers import registry

    build, extra, phrases = BAD_FILES[case]
    path = tmp_path / "prices.csv"
    build().to_csv(path, index=False)
    before = registry(store).versions()
    result = run_cli(
        [
            "-m",
            "stockcast.orchestration.runner",
            *csv_overrides(path, *extra),
            f"paths.log_dir={store}/logs",
            f"registry.tracking_uri=sqlite:///{store}/mlruns.db",
            f"registry.artifact_location={store}/mlartifacts",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        tmp_path,
        check=False,
    )
    assert_one_sentence_refusal(result, "step 'prepare' failed", *phrases)
    assert registry(store).versions() == before
    assert not (tmp_path / "run" / "train").exists()
