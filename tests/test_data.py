"""Data: sources, split without leakage, train-only scaling, windows by gather, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stockcast.config.compose import plain
from stockcast.data.mase_scales import naive_one_step_mae
from stockcast.data.prepared import PreparedData, prepare_data
from stockcast.data.scaling import fit_scaler
from stockcast.data.series import Series
from stockcast.data.sources import geometric_brownian_motion, read_csv_series
from stockcast.data.split import SplitData, split_series
from stockcast.data.table_file import read_table_series
from stockcast.errors import ArtifactError, DataError
from stockcast.forecasting.windows import WindowSizes
from stockcast.training.windows import WindowBatches, gather_windows, sliding_windows
from tests.conftest import table_refusal

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def naive_windows(values: np.ndarray, length: int) -> np.ndarray:
    """The original per-window Python loop, as the reference."""
    return np.array([values[i : i + length] for i in range(len(values) - length + 1)])


def test_sliding_windows_equal_the_reference_loop_and_share_memory() -> None:
    values = torch.arange(23, dtype=torch.float64) ** 1.5
    windows = sliding_windows(values, 7)
    np.testing.assert_array_equal(windows.numpy(), naive_windows(values.numpy(), 7))
    assert windows.untyped_storage().data_ptr() == values.untyped_storage().data_ptr()


def test_gathered_batches_equal_the_reference_loop() -> None:
    values = torch.randn(50, dtype=torch.float64)
    starts = torch.tensor([0, 5, 43, 17])
    expected = naive_windows(values.numpy(), 7)[starts.numpy()]
    np.testing.assert_array_equal(gather_windows(values, starts, 7).numpy(), expected)


def test_window_batches_cover_every_window_once_per_pass() -> None:
    values = torch.arange(100, dtype=torch.float32)
    starts = np.arange(0, 90)
    batches = WindowBatches(values, starts, 11, 8, steps_per_batch=3, shuffle=True, seed=1)
    seen = [mb[:, 0] for item in batches for mb in item]
    assert len(list(batches)) == len(batches) == 4
    assert sorted(torch.cat(seen).long().tolist()) == list(range(90))
    first, second = (torch.cat([mb[:, 0] for item in batches for mb in item]) for _ in range(2))
    assert not torch.equal(first, second), "each pass reshuffles"


@pytest.mark.parametrize("taken", [2, 4])  # inside the second pass; at its end
def test_window_batches_continue_from_a_saved_position(taken: int) -> None:
    """What Lightning saves in a checkpoint and loads on resume: a new iterable continues with
    the batches the first one would have handed out next."""

    def make() -> WindowBatches:
        values = torch.arange(100, dtype=torch.float32)
        return WindowBatches(values, np.arange(0, 90), 11, 8, steps_per_batch=3, shuffle=True)

    whole, stopped = make(), make()
    expected = [b for _ in range(3) for b in whole]  # three passes of 4 batches
    list(stopped)
    taken_items = iter(stopped)
    for _ in range(taken):
        next(taken_items)
    resumed = make()
    resumed.load_state_dict(stopped.state_dict())
    rest = [b for _ in range(2 if taken < len(resumed) else 1) for b in resumed]
    for got, want in zip(rest, expected[4 + taken :], strict=True):
        assert all(torch.equal(g, w) for g, w in zip(got, want, strict=True))


def _two_series() -> list[Series]:
    return [
        Series("a", np.arange(100, dtype=np.float64)),
        Series("b", 1000 + np.arange(60, dtype=np.float64)),
    ]


def test_windows_never_cross_series_or_split_boundaries() -> None:
    window = WindowSizes(5, 3)
    splits = split_series(_two_series(), window, FRACTIONS)
    # Values encode their position: a_i = i, b_i = 1000 + i, so any crossing shows as a jump.
    for split in splits.values():
        windows = naive_windows(split.values, window.length)[split.window_starts(window)]
        assert (np.diff(windows, axis=1) == 1).all()


def test_no_target_leaks_from_a_later_split() -> None:
    window = WindowSizes(5, 3)
    series = [Series("a", np.arange(100, dtype=np.float64))]
    splits = split_series(series, window, FRACTIONS)
    targets = {}
    for name, split in splits.items():
        windows = naive_windows(split.values, window.length)[split.window_starts(window)]
        targets[name] = windows[:, window.previous_time_window :]
    assert targets["train"].max() < 60 <= targets["val"].min()
    assert targets["val"].max() < 80 <= targets["test"].min()
    assert targets["test"].max() == 99
    # Val and test windows start with real history from the split before.
    assert splits["val"].values[0] == 60 - window.previous_time_window
    assert splits["val"].context == window.previous_time_window


def test_scaler_sees_train_only() -> None:
    window = WindowSizes(5, 3)
    values = np.arange(100, dtype=np.float64)
    changed = values.copy()
    changed[60:] *= 50.0  # a wild val/test regime must not move the scaler
    for kind in ("standard", "minmax"):
        scalers = [
            fit_scaler(
                kind, split_series([Series("a", v)], window, FRACTIONS)["train"].values, 1e-4
            )
            for v in (values, changed)
        ]
        assert scalers[0] == scalers[1]
        assert scalers[0]["loc"] == (np.arange(60).mean() if kind == "standard" else 0.0)


def test_prepare_fits_the_scaler_on_train_values_only(tmp_path: Path, make_cfg) -> None:
    values = np.arange(1, 101, dtype=np.float64)  # prices: positive
    values[60:] *= 50.0  # a wild val/test regime the scaler must never see
    path = tmp_path / "prices.csv"
    path.write_text("Close\n" + "\n".join(f"{v}" for v in values) + "\n")
    cfg = make_cfg(
        "data=csv",
        f"data.path={path}",
        "data.date_column=null",
        "data.normalization=standard",
        "data.split.train=0.6",
        "data.split.val=0.2",
        "data.split.test=0.2",
        "data.previous_time_window=5",
        "data.next_time_window=3",
    )
    prepared = prepare_data(plain(cfg.data))
    assert prepared.scaler["loc"] == pytest.approx(values[:60].mean())
    assert prepared.scaler["scale"] == pytest.approx(values[:60].std())


def test_csv_with_several_ids_is_windowed_per_series(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    rows = []
    for sid, base in (("X", 10.0), ("Y", 500.0)):
        dates = pd.date_range("2024-01-01", periods=40, freq="B")
        rows += [{"Date": d, "Ticker": sid, "Close": base + i} for i, d in enumerate(dates)]
    pd.DataFrame(rows).sample(frac=1.0, random_state=0).to_csv(path, index=False)
    series = read_csv_series(path, "Date", "Close", "Ticker")
    assert [s.series_id for s in series] == ["X", "Y"]
    assert (np.diff(series[0].values) == 1).all(), "rows are sorted by date within each id"
    assert series[1].dates[0] == np.datetime64("2024-01-01")
    window = WindowSizes(4, 2)
    splits = split_series(series, window, FRACTIONS)
    for split in splits.values():
        windows = naive_windows(split.values, window.length)[split.window_starts(window)]
        assert (np.diff(windows, axis=1) == 1).all()


def test_prepared_folder_round_trips(tmp_path: Path, make_cfg) -> None:
    cfg = make_cfg("data.length=300")
    prepared = prepare_data(plain(cfg.data))
    loaded = PreparedData.load(prepared.save(tmp_path / "prepared"))
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(loaded.splits[name].values, prepared.splits[name].values)
    assert loaded.meta["data_hash"] == prepared.meta["data_hash"]
    assert loaded.scaler == prepared.scaler and loaded.window == prepared.window
    again = prepare_data(plain(cfg.data))
    assert again.meta["data_hash"] == prepared.meta["data_hash"], "same seed, same data"


def test_gbm_starts_at_the_start_price_and_is_seeded() -> None:
    path = geometric_brownian_motion(500, 100.0, 1e-4, 0.02, seed=3)
    assert path.shape == (500,) and path[0] == 100.0 and (path > 0).all()
    np.testing.assert_array_equal(path, geometric_brownian_motion(500, 100.0, 1e-4, 0.02, seed=3))


# ---- bad input: one clear sentence each ---------------------------------------------------


def test_data_that_never_moves_is_refused_as_such(make_cfg, tmp_path: Path) -> None:
    """A file of one price throughout was told to leave out its flat start (the train split's
    refusal), where the data holds nothing else."""
    csv = tmp_path / "constant.csv"
    csv.write_text("value\n" + "12.5\n" * 120)
    cfg = make_cfg(
        "data=csv", f"data.path={csv}", "data.date_column=null", "data.value_column=value"
    )
    with pytest.raises(DataError) as refused:
        prepare_data(plain(cfg.data))
    assert str(refused.value) == (
        "the series holds one value throughout (first 12.5), so there is nothing to forecast; "
        "check that data.value_column names the prices."
    )
    # A synthetic market has no column to blame.
    with pytest.raises(DataError, match=r"forecast; check the data's settings \(a market"):
        prepare_data(plain(make_cfg("data.volatility=0", "data.drift=0").data))


def test_series_too_short_for_a_split(make_cfg) -> None:
    cfg = make_cfg("data.length=30")
    with pytest.raises(DataError, match=r"val split gets 4.*at least next_time_window = 5"):
        prepare_data(plain(cfg.data))


@pytest.mark.parametrize("source", ["gbm", "seasonal", "market"])
def test_a_market_cut_short_by_its_length_names_data_length(make_cfg, source: str) -> None:
    """A market holds years of days before data.length keeps its latest values: "use a series
    of at least 32 points" named no setting, where raising data.length is the fix."""
    size = ("data.num_series=2",) if source == "market" else ()
    cfg = make_cfg(f"data={source}", "data.length=20", *size)
    with pytest.raises(DataError) as refused:
        prepare_data(plain(cfg.data))
    assert ": raise data.length=20 to at least 32 (or set it to null), or smaller windows" in str(
        refused.value
    )


def test_a_file_too_short_asks_for_a_longer_series(tmp_path: Path, make_cfg) -> None:
    """A file's rows are all it has: no data.length to raise."""
    path = tmp_path / "short.csv"
    dates = pd.bdate_range("2024-01-01", periods=20)
    pd.DataFrame({"Date": dates, "Close": np.linspace(10.0, 20.0, 20)}).to_csv(path, index=False)
    cfg = make_cfg("data=csv", f"data.path={path}")
    with pytest.raises(DataError, match=r": use a series of at least 32 points, or smaller"):
        prepare_data(plain(cfg.data))


def test_a_short_panel_member_is_refused_with_advice_that_can_work(
    tmp_path: Path, make_cfg
) -> None:
    """A mistyped ticker of 5 rows that stopped before the others: no windows fit 5 values split
    0.7/0.15/0.15 (the test split gets none), and leaving it out lets the others train."""
    path = tmp_path / "panel.csv"
    dates = pd.bdate_range("2024-01-01", periods=60)
    pd.concat(
        [
            pd.DataFrame({"Date": dates, "Ticker": "AAA", "Close": np.linspace(10.0, 20.0, 60)}),
            pd.DataFrame({"Date": dates[:5], "Ticker": "TYPO", "Close": [1.0, 2, 3, 4, 5]}),
        ]
    ).to_csv(path, index=False)
    cfg = make_cfg("data=csv", f"data.path={path}", "data.id_column=Ticker")
    with pytest.raises(DataError) as refused:
        prepare_data(plain(cfg.data))
    assert str(refused.value).endswith(
        "test split gets 0; each split needs at least next_time_window = 5 values of its own, "
        "train previous_time_window + next_time_window = 15: use a series of at least 32 "
        "points, or leave it out of the data, whose other series are long enough."
    )


def test_a_series_too_short_for_an_auto_window_names_its_shortest_window(make_cfg) -> None:
    """previous_time_window=auto reads at least data.shortest_window values: that is the
    setting a too-short series is measured against, not the window it never chose."""
    cfg = make_cfg("data.length=30", "data.previous_time_window=auto")
    with pytest.raises(
        DataError, match=r"train shortest_window \+ next_time_window = 15"
    ) as refused:
        prepare_data(plain(cfg.data))
    # Its train split holds the window; only a shorter horizon or a larger share helps val.
    assert str(refused.value).endswith(
        "(or set it to null), or a shorter horizon (data.next_time_window) or a larger "
        "data.split.val taken from data.split.train (the three sum to 1)."
    )
    # As advised (a larger data.split.val alone was refused: the shares no longer summed to 1).
    advised = make_cfg(
        "data.length=30",
        "data.previous_time_window=auto",
        "data.split.train=0.6",
        "data.split.val=0.2",
        "data.split.test=0.2",
    )
    assert prepare_data(plain(advised.data)).splits["val"] is not None
    train_short = make_cfg("data.length=30", "data.previous_time_window=25")
    with pytest.raises(DataError) as refused:
        prepare_data(plain(train_short.data))
    assert "train split gets 21" in str(refused.value)
    # A larger validation share would shorten the train split further.
    assert str(refused.value).endswith(
        "(or set it to null), or smaller windows (data.previous_time_window, "
        "data.next_time_window)."
    )


def test_val_and_test_need_only_a_horizon_of_their_own(make_cfg) -> None:
    """Their windows begin with the window's values from the split before."""
    prepared = prepare_data(plain(make_cfg("data.length=40").data))
    val = prepared.splits["val"]
    assert len(val.values) == 10 + 6 and len(val.origins(prepared.window)) == 2


def test_a_parquet_text_column_reads_freds_dot_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "prices.parquet"
    frame = pd.DataFrame({"Date": ["2024-01-01", "2024-01-02"], "Close": ["1.5", "."]})
    frame.astype({"Close": "string"}).to_parquet(path)
    with pytest.raises(
        DataError, match=r"1 missing value\(s\) in column 'Close' at data row\(s\) 2"
    ):
        read_table_series(path, "Date", "Close")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "is empty"),
        ("Date,Close\n", "no rows"),
        (
            "Day,Price\n2024-01-01,1\n",
            r"no column 'Close'.*columns are \['Day', 'Price'\]: set data.value_column to one of "
            r"them\.$",
        ),
        (
            "Day,Close\n2024-01-01,1\n",
            r"no column 'Date' \(data.date_column\); its columns are \['Day', 'Close'\]: set "
            r"data.date_column to one of them, or data.date_column=null for values without dates",
        ),
        # A header written with a space after each comma: the setting that reads it, quoted.
        (
            "Date, Close\n2024-01-01, 1\n",
            r"no column 'Close' \(data.value_column\), but one named ' Close', with spaces around "
            r"the name; set \"data.value_column=' Close'\" \(quoted so\), or remove the spaces",
        ),
        ("Date,Close\n2024-01-01,1\n2024-01-02,abc\n", "non-numeric value 'abc'.*data row 2"),
        ("Date,Close\n2024-01-01,1\n2024-01-02,\n2024-01-03,\n", r"2 missing.*row\(s\) 2, 3"),
        # FRED writes a day without an observation as ".": missing, counted, not text.
        ("Date,Close\n2024-01-01,1\n2024-01-02,.\n2024-01-03, . \n", r"2 missing.*row\(s\) 2, 3"),
        (
            'Date,Close\n2024-01-01,"15,136.0"\n2024-01-02,"1,000"\n',
            r"'15,136.0' .* data row 1 \(and 1 more\); write its numbers without thousands sep",
        ),
        ("Date,Close\nyesterday,1\n", "unreadable date 'yesterday'"),
    ],
)
def test_bad_csv(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "prices.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_csv_series(path, "Date", "Close")


def test_the_setting_named_for_a_padded_column_reads_it(tmp_path: Path) -> None:
    """The refusal's setting, as Hydra parses it, keeps the spaces and reads the column."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    (override,) = OverridesParser.create().parse_overrides(["data.value_column=' Close'"])
    path = tmp_path / "prices.csv"
    path.write_text("Date, Close\n2024-01-01, 1\n2024-01-02, 2\n")
    (series,) = read_csv_series(path, "Date", override.value())
    assert list(series.values) == [1.0, 2.0]


def test_the_id_column_a_refusal_suggests_is_given_as_a_shell_reads_it(tmp_path: Path) -> None:
    """`set data.id_column=Ticker Symbol` typed as it was written passed the shell two words."""
    import shlex

    from hydra.core.override_parser.overrides_parser import OverridesParser

    path = tmp_path / "panel.csv"
    path.write_text(
        "Date,Ticker Symbol,Close\n2024-01-01,A,1\n2024-01-01,B,2\n2024-01-02,A,3\n2024-01-02,B,4\n"
    )
    message = table_refusal(path, "Date", "Close")
    assert message.endswith(
        "one per 'Ticker Symbol' value; set \"data.id_column='Ticker Symbol'\" to read them as "
        "separate series."
    )
    (word,) = shlex.split(
        message.split("; set ")[1].removesuffix(" to read them as separate series.")
    )
    (override,) = OverridesParser.create().parse_overrides([word])
    assert override.value() == "Ticker Symbol"


def test_a_missing_value_in_a_table_of_many_series_names_its_series(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    path.write_text("Date,Ticker,Close\n2024-01-01,AAA,1\n2024-01-01,BBB,\n2024-01-02,BBB,2\n")
    assert table_refusal(path, "Date", "Close", id_column="Ticker").endswith(
        "1 missing value(s) in column 'Close' at data row(s) 2 (series 'BBB'); fill or drop "
        "them first."
    )


def test_loading_a_folder_that_is_not_prepared(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="is not a prepared folder"):
        PreparedData.load(tmp_path)
    with pytest.raises(ArtifactError, match="does not exist"):
        PreparedData.load(tmp_path / "missing")


def test_a_constant_train_split_is_refused_with_what_to_change() -> None:
    """An illiquid listing flat until its later part: MASE has no scale to be measured in."""
    flat = SplitData("train", np.full(50, 12.5), np.array([0, 50]), 0, ("s",))
    with pytest.raises(DataError, match=r"leave out the data's flat start, or give data\.split"):
        naive_one_step_mae(flat)


@pytest.mark.parametrize(
    "fractions",
    [
        {"train": 0.7, "val": 0.15, "test": 0.15},
        {"train": 0.6, "val": 0.2, "test": 0.2},
        {"train": 0.98, "val": 0.01, "test": 0.01},
    ],
)
def test_the_shortest_series_a_window_needs_is_the_first_that_fits(fractions) -> None:
    """Counted from a bound below which no split can hold its needs, not from the window's
    length: the same answers as counting every length, and a window of a billion values is
    answered at once instead of after minutes."""
    from stockcast.data.split import min_series_length, split_lengths, split_needs

    def counted(window: WindowSizes, longer_than: int) -> int:
        n, needs = max(window.length, longer_than + 1), split_needs(window)
        while any(size < needs[k] for k, size in split_lengths(n, fractions).items()):
            n += 1
        return n

    for inputs in (2, 10, 31, 96, 250):
        for horizon in (1, 5, 13):
            for longer_than in (0, 400):
                window = WindowSizes(inputs, horizon)
                assert min_series_length(window, fractions, longer_than) == counted(
                    window, longer_than
                ), (inputs, horizon, longer_than)
    billion = min_series_length(WindowSizes(10**9, 5), fractions)
    sizes = split_lengths(billion, fractions)
    assert (
        sizes["train"] >= 10**9 + 5 and split_lengths(billion - 1, fractions)["train"] < 10**9 + 5
    )
