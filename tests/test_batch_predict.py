"""Batch prediction: every id of a long table forecast in one model call, one block per id.

Runs predict's task in this process against the session's registered model (`registered_store`,
10 values in, 5 out); the served pyfunc is checked directly for many rows at once.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.errors import ConfigError, DataError
from stockcast.prediction.task import run_predict
from stockcast.serving.model import OpenModel
from tests.conftest import MODEL, Ran, run_task
from tests.conftest import isolated_overrides as store_overrides

pytestmark = pytest.mark.slow
P, H = 10, 5


def predict(store: Path, run_dir: Path, *overrides: str) -> Ran:
    return run_task(run_predict, "predict", [*store_overrides(store), *overrides], run_dir)


def panel_csv(path: Path, lengths: dict[str, int], seed: int = 0) -> Path:
    """A long business-day file (Date, Ticker, Close), the tickers interleaved by date and each
    ending on its own day."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, (ticker, n) in enumerate(lengths.items()):
        dates = pd.bdate_range("2024-01-01", periods=n + i)[i:]
        close = (50 + 20 * i) * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        frames.append(
            pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Ticker": ticker, "Close": close})
        )
    frame = pd.concat(frames).sort_values(["Date", "Ticker"], kind="stable")
    frame.to_csv(path, index=False)
    return path


def batch_args(path: Path, *extra: str) -> list[str]:
    return ["input=csv", f"input.path={path}", "input.id_column=Ticker", *extra]


def load_version_1(store: Path, into: Path):
    from stockcast.registry.store import ModelRegistry
    from stockcast.serving.model import open_version

    registry = ModelRegistry(f"sqlite:///{store}/mlruns.db", MODEL)
    return open_version(registry, registry.resolve(version=1), into).pyfunc


def test_every_id_is_forecast_in_one_model_call_with_one_block_per_id(
    registered_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lengths = {"ZZZ": 40, "AAA": 25, "MMM": 12}
    path = panel_csv(tmp_path / "panel.csv", lengths)
    calls: list[tuple[int, ...]] = []
    original = OpenModel.forecast

    def counted(self, windows, series_ids=None):
        calls.append(np.shape(windows))
        return original(self, windows, series_ids)

    monkeypatch.setattr(OpenModel, "forecast", counted)
    run_dir = tmp_path / "run"
    predict(registered_store, run_dir, *batch_args(path))
    assert calls == [(3, P)], "one forward over one row per id"

    frame = pd.read_csv(run_dir / "forecast.csv")
    bands = ["lower_80", "upper_80", "lower_95", "upper_95"]
    assert list(frame.columns) == ["Ticker", "step", "date", "forecast", *bands]
    assert list(frame["Ticker"]) == [t for t in ("AAA", "MMM", "ZZZ") for _ in range(H)]
    assert list(frame["step"]) == [1, 2, 3, 4, 5] * 3

    source = pd.read_csv(path)
    served = load_version_1(registered_store, tmp_path / "model")
    for ticker, block in frame.groupby("Ticker"):
        rows = source[source["Ticker"] == ticker]
        window = rows["Close"].to_numpy()[-P:].reshape(1, -1)
        expected = served.predict(window)
        np.testing.assert_allclose(
            block["forecast"],
            expected[[f"forecast_{h}" for h in range(1, H + 1)]].iloc[0],
            rtol=1e-6,
        )
        np.testing.assert_allclose(
            block["lower_95"],
            expected[[f"lower_95_{h}" for h in range(1, H + 1)]].iloc[0],
            rtol=1e-6,
        )
        last = pd.Timestamp(rows["Date"].iloc[-1])
        assert list(block["date"]) == list(
            pd.bdate_range(last, periods=H + 1)[1:].strftime("%Y-%m-%d")
        )

    out = json.loads((run_dir / "forecast.json").read_text())
    assert out["model"]["name"] == MODEL and out["input"]["n_series"] == 3
    assert [b["id"] for b in out["series"]] == ["AAA", "MMM", "ZZZ"]
    assert [b["n_values"] for b in out["series"]] == [25, 12, 40]
    zzz = out["series"][2]
    assert zzz["date_frequency"] == "B" and len(zzz["forecast"]) == H
    assert [r["forecast"] for r in zzz["forecast"]] == list(
        frame["forecast"][frame["Ticker"] == "ZZZ"]
    )


def test_a_batch_forecast_equals_the_single_series_forecast_of_that_id(
    registered_store: Path, tmp_path: Path
) -> None:
    path = panel_csv(tmp_path / "panel.csv", {"AAA": 30, "BBB": 30})
    predict(registered_store, tmp_path / "batch", *batch_args(path))
    predict(registered_store, tmp_path / "one", *batch_args(path, "input.series_id=BBB"))
    batch = json.loads((tmp_path / "batch" / "forecast.json").read_text())["series"][1]
    one = json.loads((tmp_path / "one" / "forecast.json").read_text())["forecast"]
    assert [r["date"] for r in batch["forecast"]] == [r["date"] for r in one]
    np.testing.assert_allclose(
        [r["forecast"] for r in batch["forecast"]], [r["forecast"] for r in one], rtol=1e-6
    )


def test_the_printed_summary_shows_the_first_ids_and_counts_the_rest_and_plots_the_first(
    registered_store: Path, tmp_path: Path
) -> None:
    tickers = {f"T{i:03d}": 15 for i in range(40)}
    path = panel_csv(tmp_path / "panel.csv", tickers)
    ran = predict(
        registered_store, tmp_path / "run", *batch_args(path, "print_series=3", "vis=true")
    )
    assert "each of 40 series" in ran.stdout
    assert all(f"T00{i}" in ran.stdout for i in range(3)) and "T003" not in ran.stdout
    assert "... and 37 more series" in ran.stdout
    assert len(pd.read_csv(tmp_path / "run" / "forecast.csv")) == 40 * H
    png = (tmp_path / "run" / "forecast.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "vis=true plots the first id"


def test_ids_too_short_for_the_window_are_refused_by_name(
    registered_store: Path, tmp_path: Path
) -> None:
    lengths = {"LONG": 30} | {f"S{i:02d}": P - 1 for i in range(12)}
    path = panel_csv(tmp_path / "panel.csv", lengths)
    with pytest.raises(DataError) as refused:
        predict(registered_store, tmp_path / "run", *batch_args(path))
    message = str(refused.value)
    assert message.startswith(f"12 of 13 series in {path} hold fewer than the {P} values")
    assert "'S00', 'S01'" in message and "'S09' and 2 more" in message
    assert "'S10'" not in message and "LONG" not in message
    assert not (tmp_path / "run" / "forecast.csv").exists()


@pytest.mark.parametrize("from_end", [3, 20])
def test_a_price_at_or_below_zero_is_refused_naming_its_series(
    registered_store: Path, tmp_path: Path, from_end: int
) -> None:
    """Inside the window the model reads or earlier in the series, as a single series' input
    is checked: the batch's refusal names the ticker and the date, not a row of the batch."""
    path = panel_csv(tmp_path / "panel.csv", {"AAA": 30, "BBB": 30})
    frame = pd.read_csv(path)
    row = frame.index[frame["Ticker"] == "BBB"][-from_end]
    frame.loc[row, "Close"] = -5.0
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as refused:
        predict(registered_store, tmp_path / "run", *batch_args(path))
    assert str(refused.value) == (
        f"series 'BBB' holds -5 at position {31 - from_end} ({frame.loc[row, 'Date']}), but "
        "prices are above 0; fix the data, or use a model trained with "
        "data.allow_non_positive=true."
    )
    assert not (tmp_path / "run" / "forecast.csv").exists()


def test_every_series_the_input_guard_refuses_is_named_in_one_refusal(
    registered_store: Path, tmp_path: Path
) -> None:
    """A file with several bad series is fixed in one pass, not one rerun per series."""
    path = panel_csv(tmp_path / "panel.csv", {"AAA": 30, "BBB": 30, "CCC": 30, "DDD": 30})
    frame = pd.read_csv(path)

    def refusal(*negative: str) -> str:
        """The refusal of the file with each of these tickers' last price at -5."""
        for ticker in negative:
            frame.loc[frame.index[frame["Ticker"] == ticker][-1], "Close"] = -5.0
        frame.to_csv(path, index=False)
        with pytest.raises(DataError) as refused:
            predict(registered_store, tmp_path / "run", *batch_args(path))
        assert not (tmp_path / "run" / "forecast.csv").exists()
        return str(refused.value)

    assert refusal("BBB", "DDD").startswith(
        f"2 of 4 series in {path} are refused (fix them, or set input.skip_refused=true to "
        "forecast the others): 'BBB', 'DDD'; the first: series 'BBB' holds -5 at position 30 ("
    )
    # Where every series is refused there are no others to forecast.
    assert refusal("AAA", "CCC").startswith(
        f"4 of 4 series in {path} are refused (fix them): 'AAA', 'BBB', 'CCC', 'DDD'; the first: "
    )


def test_the_reader_and_the_input_guard_refusals_are_named_in_one_refusal(
    registered_store: Path, tmp_path: Path
) -> None:
    """A missing value in one series and a negative price in another: the refusal named the
    first alone, so the other surfaced only after a rerun, although skip_refused left both
    out."""
    path = panel_csv(tmp_path / "panel.csv", {"AAA": 30, "BBB": 30, "CCC": 30})
    frame = pd.read_csv(path)
    frame.loc[frame.index[frame["Ticker"] == "AAA"][-1], "Close"] = -5.0
    blank = frame.index[frame["Ticker"] == "BBB"][4]
    frame.loc[blank, "Close"] = None
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as refused:
        predict(registered_store, tmp_path / "run", *batch_args(path))
    assert str(refused.value) == (
        f"2 of 3 series in {path} are refused (fix them, or set input.skip_refused=true to "
        "forecast the others): 'BBB', 'AAA'; the first: series 'BBB' has 1 missing value(s) in "
        f"column 'Close' at data row(s) {blank + 1}; fill or drop them first."
    )
    assert not (tmp_path / "run" / "forecast.csv").exists()


def test_skip_refused_forecasts_the_others_and_lists_the_refused_in_the_files(
    registered_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lengths = {"AAA": 30, "BBB": 30, "BLANK": 30, "DUP": 30, "NEW": P - 2, "ZZZ": 30}
    path = panel_csv(tmp_path / "panel.csv", lengths)
    frame = pd.read_csv(path)
    frame.loc[frame.index[frame["Ticker"] == "BBB"][-1], "Close"] = -5.0
    blank = frame.index[frame["Ticker"] == "BLANK"][4]
    frame.loc[blank, "Close"] = None
    frame = pd.concat([frame, frame[frame["Ticker"] == "DUP"].iloc[[2]]])
    frame.to_csv(path, index=False)
    # Without skip_refused, every series it would leave out is named in one refusal.
    with pytest.raises(DataError) as strict:
        predict(registered_store, tmp_path / "strict", *batch_args(path))
    assert str(strict.value).startswith(
        f"4 of 6 series in {path} are refused (fix them, or set input.skip_refused=true to "
        "forecast the others): 'BLANK', 'DUP', 'BBB', 'NEW'; the first: series 'BLANK' has 1 "
        "missing value(s) in column 'Close'"
    )
    run_dir = tmp_path / "run"
    predict(registered_store, run_dir, *batch_args(path, "input.skip_refused=true"))

    forecast = pd.read_csv(run_dir / "forecast.csv")
    assert list(forecast["Ticker"].unique()) == ["AAA", "ZZZ"]
    refused = pd.read_csv(run_dir / "refused.csv")
    assert list(refused.columns) == ["Ticker", "reason"]
    # Those the reader refused first, then those the input guard refused.
    assert list(refused["Ticker"]) == ["BLANK", "DUP", "BBB", "NEW"]
    reasons = dict(zip(refused["Ticker"], refused["reason"], strict=True))
    assert reasons["BLANK"] == (
        f"series 'BLANK' has 1 missing value(s) in column 'Close' at data row(s) {blank + 1}; "
        "fill or drop them first."
    )
    assert re.match(
        r"series 'DUP' has 2 rows on a repeated date \(\d{4}-\d\d-\d\d at ", reasons["DUP"]
    )
    assert reasons["BBB"].startswith("series 'BBB' holds -5 at position 30 (")
    assert reasons["NEW"] == (
        f"series 'NEW' holds {P - 2} values, fewer than the {P} the model reads; give it more "
        "history."
    )
    payload = json.loads((run_dir / "forecast.json").read_text())
    assert [block["id"] for block in payload["series"]] == ["AAA", "ZZZ"]
    assert payload["series"][1]["n_values"] == 30
    assert payload["input"]["n_series"] == 6
    assert payload["refused"] == refused.rename(columns={"Ticker": "id"}).to_dict("records")
    out = capsys.readouterr().out
    assert "left out 4 refused series (input.skip_refused): 'BLANK', 'DUP', 'BBB', 'NEW'" in out

    # Nothing refused: refused.csv is still written, with its header alone.
    clean = panel_csv(tmp_path / "clean.csv", {"AAA": 30})
    predict(registered_store, tmp_path / "clean", *batch_args(clean, "input.skip_refused=true"))
    assert (tmp_path / "clean" / "refused.csv").read_text() == "Ticker,reason\n"
    assert json.loads((tmp_path / "clean" / "forecast.json").read_text())["refused"] == []


def test_a_batch_says_a_repeated_hour_may_be_daylight_saving_ending(tmp_path: Path) -> None:
    """A single series' refusal of a repeated time of day names the hour local clocks repeat
    as daylight saving ends; a batch's refusal of one id said only to drop the duplicates,
    which would lose a real bar."""
    from stockcast.prediction.batch import build_batch

    hours = ["2024-11-03 00:00", "2024-11-03 01:00", "2024-11-03 01:00", "2024-11-03 02:00"]
    days = ["2024-11-01", "2024-11-04", "2024-11-04", "2024-11-05"]
    reasons = {}
    for name, dates in (("HOURS", hours), ("DAYS", days)):
        path = tmp_path / f"{name}.csv"
        frame = pd.DataFrame(
            {"Ticker": [name] * 4 + ["OK"] * 3, "Date": dates + sorted(set(dates))}
        )
        frame.assign(Close=100.0).to_csv(path, index=False)
        batch = build_batch(
            {"kind": "csv", "path": str(path), "value_column": "Close", "date_column": "Date"}
            | {"id_column": "Ticker", "skip_refused": True},
            {},
        )
        reasons |= {item.series_id: item.reason for item in batch.refused}
    assert reasons["HOURS"] == (
        "series 'HOURS' has 2 rows on a repeated date (2024-11-03 01:00:00 at data rows 2, 3); "
        "keep one row per date, e.g. drop the duplicates, or, where the times are local clock "
        "times that repeat an hour as daylight saving ends, write them with their UTC offset "
        "(2024-11-03T01:00-04:00) or in UTC."
    )
    assert reasons["DAYS"].endswith("e.g. drop the duplicates.")


def test_skip_refused_is_for_a_batch_only(registered_store: Path, tmp_path: Path) -> None:
    path = panel_csv(tmp_path / "panel.csv", {"AAA": 30, "BBB": 30})
    single = batch_args(path, "input.series_id=AAA", "input.skip_refused=true")
    with pytest.raises(ConfigError, match=r"^input\.skip_refused leaves refused series out of a "):
        predict(registered_store, tmp_path / "run", *single)
    assert not (tmp_path / "run" / "forecast.csv").exists()


@pytest.mark.parametrize("inside", [False, True])
def test_an_output_folder_that_is_a_file_is_one_sentence(tmp_path: Path, inside: bool) -> None:
    """paths.output_dir naming a file (or a folder inside one) was FileExistsError's or
    NotADirectoryError's traceback; it is refused before the store is opened."""
    file = tmp_path / "out"
    file.write_text("not a folder")
    output_dir = file / "run" if inside else file
    with pytest.raises(ConfigError) as refused:
        predict(tmp_path / "no-store", output_dir, "input.values=[1,2,3]")
    assert str(refused.value) == (
        f"paths.output_dir {output_dir} is a file or inside one; point it at a folder."
    )
    assert not (tmp_path / "no-store").exists()


def _denied_even_to_root(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """Root writes anywhere: `denied` reads as not writable to it too, as to another user."""
    if os.geteuid() == 0:
        real_access = os.access
        monkeypatch.setattr(
            os, "access", lambda path, mode: Path(path) != denied and real_access(path, mode)
        )


def test_a_read_only_output_folder_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paths.output_dir this user cannot write was PermissionError's traceback from the first
    write, after the model had forecast; it is refused before the store is opened."""
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    output_dir.chmod(0o555)
    _denied_even_to_root(monkeypatch, output_dir)
    with pytest.raises(ConfigError) as refused:
        predict(tmp_path / "no-store", output_dir, "input.values=[1,2,3]")
    assert str(refused.value) == (
        f"cannot write predict's outputs to paths.output_dir {output_dir} (permission denied); "
        "point it (or hydra.run.dir) at a folder this user can write."
    )
    assert not (tmp_path / "no-store").exists()


def test_a_previous_runs_file_this_user_cannot_replace_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forecast.csv left read-only in paths.output_dir by another run was PermissionError's
    traceback after the model had forecast; it is refused before the store is opened."""
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    locked = output_dir / "forecast.csv"
    locked.write_text("step,forecast\n")
    locked.chmod(0o444)
    _denied_even_to_root(monkeypatch, locked)
    with pytest.raises(ConfigError) as refused:
        predict(tmp_path / "no-store", output_dir, "input.values=[1,2,3]")
    assert str(refused.value) == (
        f"cannot replace {locked} in paths.output_dir (permission denied); remove it or point "
        "paths.output_dir (or hydra.run.dir) at another folder."
    )
    assert not (tmp_path / "no-store").exists()


def test_a_folder_where_an_output_goes_is_one_sentence(tmp_path: Path) -> None:
    """A folder named forecast.png in paths.output_dir was IsADirectoryError's traceback after
    the model had forecast; it is refused before the store is opened."""
    output_dir = tmp_path / "out"
    (output_dir / "forecast.png").mkdir(parents=True)
    with pytest.raises(ConfigError) as refused:
        predict(tmp_path / "no-store", output_dir, "input.values=[1,2,3]", "vis=true")
    assert str(refused.value) == (
        f"cannot write forecast.png to paths.output_dir {output_dir}: a folder of that name is "
        "there; move it, or point paths.output_dir (or hydra.run.dir) at another folder."
    )
    assert not (tmp_path / "no-store").exists()


def test_backtest_mode_asks_for_one_series(registered_store: Path, tmp_path: Path) -> None:
    path = panel_csv(tmp_path / "panel.csv", {"AAA": 30, "BBB": 30})
    with pytest.raises(ConfigError, match="mode=backtest works on one series; pick one with"):
        predict(registered_store, tmp_path / "run", *batch_args(path, "mode=backtest"))


def test_the_served_model_takes_thousands_of_rows_at_once(
    registered_store: Path, tmp_path: Path
) -> None:
    served = load_version_1(registered_store, tmp_path / "model")
    rng = np.random.default_rng(3)
    rows = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (3000, P)), axis=1))
    many = served.predict(rows)
    assert many.shape[0] == 3000 and np.isfinite(many.to_numpy()).all()
    for i in (0, 1234, 2999):
        one = served.predict(rows[i : i + 1])
        np.testing.assert_allclose(many.iloc[i], one.iloc[0], rtol=1e-6)
    as_float32 = served.predict(rows.astype(np.float32))
    np.testing.assert_allclose(as_float32.to_numpy(), many.to_numpy(), rtol=1e-5)

    rows[[4, 70]] = np.nan
    with pytest.raises(
        Exception, match=r"holds nan in row 5 at position 1 \(and 19 more\); send finite"
    ):
        served.predict(rows)


def test_a_parquet_table_is_read_like_the_csv(registered_store: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = panel_csv(tmp_path / "panel.csv", {"AAA": 30, "BBB": 20})
    frame = pd.read_csv(path)
    frame.assign(Date=pd.to_datetime(frame["Date"])).to_parquet(tmp_path / "panel.parquet")
    predict(registered_store, tmp_path / "csv", *batch_args(path))
    predict(registered_store, tmp_path / "pq", *batch_args(tmp_path / "panel.parquet"))
    from_csv = pd.read_csv(tmp_path / "csv" / "forecast.csv")
    from_parquet = pd.read_csv(tmp_path / "pq" / "forecast.csv")
    assert len(from_parquet) == 2 * H
    pd.testing.assert_frame_equal(from_parquet, from_csv)
