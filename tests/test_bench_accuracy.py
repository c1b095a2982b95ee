"""bench-accuracy's arguments and series, refused before any fit, and how it scores: seeds,
ratios to the best peer, the baselines and the held-out cut."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from stockcast.config.compose import compose_config
from tests.bench_helpers import (
    _stopped_at_series_b,
    output_dir_in_tmp,  # noqa: F401 (autouse)
    unprepared,
)


def test_accuracy_arguments_are_refused_before_any_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--seeds abc failed after the warm-up fit; an --output-dir that is a file lost every
    fit's scores at the end; a stockcast setting that does not compose was a traceback."""
    from benchmarks.accuracy.__main__ import main
    from benchmarks.accuracy.arguments import parse_args

    taken = tmp_path / "a file"
    taken.write_text("")
    for argv, said in (
        (["--seeds", "abc"], "--seeds 'abc' is no comma-separated list of whole numbers"),
        # Out of numpy's range: refused only at the first series' fit with it, after the others.
        (["--seeds", "42,-5"], "--seeds '42,-5' is no comma-separated list of whole numbers"),
        (["--seeds", "4294967296"], "whole numbers from 0 to 4294967295"),
        # Each fit of a seed gives the same result: named twice, it counted twice in the means.
        (["--seeds", "42,1,042"], "--seeds '42,1,042' names seed 42 more than once"),
        (["--series", ","], "--series ',' names no series; leave it out for every one"),
        # Ran as if --seeds were left out: one fit with the config's seed, without a word.
        (["--seeds", ","], "--seeds ',' names no seed; leave it out for the config's seed"),
        (["--seeds", ""], "--seeds '' names no seed; leave it out for the config's seed"),
        (["--output-dir", str(taken)], f"--output-dir {taken} cannot be a folder to write into"),
        # A folder that exists but takes no file passed, and lost every fit's scores at the end.
        (["--output-dir", "/proc"], "--output-dir /proc cannot be a folder to write into"),
    ):
        with pytest.raises(SystemExit) as stopped:
            parse_args(argv)
        assert stopped.value.code == 2 and said in capsys.readouterr().err
    argv = ["--no-peers", "--series", "gbm_1", "--output-dir", str(tmp_path / "out")]
    assert main([*argv, "--experiment", "nope"]) == 2
    assert "\nbench-accuracy: cannot compose" in capsys.readouterr().err


def test_accuracy_refuses_a_value_the_config_refuses_before_the_warm_up_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The warm-up fit sets its own trainer.max_steps, so trainer.max_steps=abc was refused only
    after it, at the first series' fit."""
    import benchmarks.accuracy.__main__ as bench

    warmed = []
    monkeypatch.setattr(bench, "warm_up", lambda *args: warmed.append(args))
    argv = ["--no-peers", "--series", "gbm_1", "--output-dir", str(tmp_path)]
    assert bench.main([*argv, "trainer.max_steps=abc"]) == 2
    assert warmed == []
    assert capsys.readouterr().err.splitlines()[-1] == (
        "bench-accuracy: trainer.max_steps is 'abc'; it must be a whole number: -1 (no step "
        "limit) or at least 1."
    )


def test_accuracy_refuses_a_series_too_short_for_the_windows_before_any_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A series too short for the run's windows stopped the run at its turn, after the fits of
    the series before it, and lost every one of their scores."""
    import benchmarks.accuracy.__main__ as bench

    fitted = []
    monkeypatch.setattr(bench, "warm_up", lambda *args: fitted.append("warm-up"))
    monkeypatch.setattr(bench, "stockcast_default", lambda *args, **kw: fitted.append(args[0]))
    argv = ["--no-peers", "--series", "gbm_1,walk150_1000", "--output-dir", str(tmp_path)]
    assert bench.main([*argv, "data.previous_time_window=100"]) == 2
    assert fitted == []
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("bench-accuracy: walk150_1000: series 'series' has 150 points")


def test_an_autogluon_python_that_cannot_run_is_refused_before_any_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path with no interpreter skipped AutoGluon on every series; a file that cannot be run
    (or a bare file name, looked up on PATH) stopped the run with a traceback after the first
    series' fits."""
    from benchmarks.accuracy.arguments import parse_args

    text = tmp_path / "notes.txt"
    text.write_text("")
    for python in ("/no/such/python", str(tmp_path), str(text)):
        with pytest.raises(SystemExit) as stopped:
            parse_args(["--autogluon-python", python])
        assert stopped.value.code == 2
        assert (
            capsys.readouterr()
            .err.splitlines()[-1]
            .endswith(
                f"error: --autogluon-python {python} is no interpreter that can be run; give the "
                "python of a venv with AutoGluon-TimeSeries (`make install-autogluon` builds "
                ".venv-autogluon/bin/python)"
            )
        )
    # One that runs is kept, as a path from the folder run in.
    interpreter = tmp_path / "python"
    interpreter.symlink_to(sys.executable)
    monkeypatch.chdir(tmp_path)
    assert parse_args(["--autogluon-python", "python"]).autogluon_python == str(interpreter)


def test_a_refused_accuracy_run_leaves_no_empty_output_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The argument check made --output-dir (and its parents) to try a file in it, so a run
    refused afterwards (an experiment that does not compose) left them behind, empty."""
    import benchmarks.accuracy.__main__ as bench

    folder = tmp_path / "deep" / "out"
    argv = ["--no-peers", "--series", "gbm_1", "--output-dir", str(folder)]
    assert bench.main([*argv, "--experiment", "nope"]) == 2
    assert "cannot compose" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    # A run that scores something still makes it to write into.
    _stopped_at_series_b(monkeypatch)
    assert bench.main(["--no-peers", "--output-dir", str(folder)]) == 130
    assert (folder / "bench_accuracy_stopped.csv").is_file()


def test_accuracy_writes_under_stockcast_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its default --output-dir was outputs/bench_accuracy in the folder it ran in: the
    checkout, even with STOCKCAST_ROOT set, under which every other command writes."""
    import benchmarks.accuracy.arguments as arguments
    from stockcast.paths import PROJECT_ROOT

    monkeypatch.setattr(arguments, "OUTPUT_DIR", Path("outputs") / "bench_accuracy")
    monkeypatch.chdir(tmp_path)
    for root, written in (("elsewhere", tmp_path / "elsewhere"), (str(tmp_path / "abs"), None)):
        monkeypatch.setenv("STOCKCAST_ROOT", root)
        folder = Path(arguments.parse_args(["--series", "gbm_1"]).output_dir)
        assert folder == (written or Path(root)) / "outputs" / "bench_accuracy"
        assert not folder.exists(), "made by the writers, not by the argument check"
    monkeypatch.delenv("STOCKCAST_ROOT")
    assert arguments.default_output_dir() == PROJECT_ROOT / "outputs" / "bench_accuracy"


def test_accuracy_scores_average_over_seeds() -> None:
    from benchmarks.accuracy.__main__ import mean_over_seeds
    from benchmarks.accuracy.protocol import Result

    def fit(mase: float, cover: float, seconds: float) -> list[Result]:
        return [
            Result("nile", "stockcast", mase, {"80": cover}, seconds, serve_ms=seconds / 4),
            Result("nile", "stockcast+refit", mase - 0.1, {"80": cover}, seconds + 1),
        ]

    means = mean_over_seeds([fit(0.9, 0.7, 1.0), fit(0.8, 0.9, 3.0)])
    assert [(r.forecaster, round(r.mase, 6)) for r in means] == [
        ("stockcast", 0.85),
        ("stockcast+refit", 0.75),
    ]
    assert means[0].coverage == {"80": pytest.approx(0.8)} and means[1].fit_seconds == 3.0
    assert means[0].serve_ms == pytest.approx(0.5)


def test_accuracy_table_and_csv_carry_the_served_milliseconds(tmp_path: Path) -> None:
    import csv
    from types import SimpleNamespace

    from benchmarks.accuracy.__main__ import table
    from benchmarks.accuracy.forecasters import served_milliseconds
    from benchmarks.accuracy.outputs import write_outputs
    from benchmarks.accuracy.protocol import Result

    shapes: list[tuple[int, ...]] = []
    model = SimpleNamespace(forecast=lambda row: shapes.append(row.shape))
    assert served_milliseconds(model, np.arange(1.0, 13.0), calls=30) >= 0
    assert shapes == [(1, 12)] * 50, "20 warm-up calls, then 30 timed, one window each"
    results = [
        Result("nile", "stockcast", 0.8, {"80": 0.8, "95": 0.9}, 2.0, serve_ms=0.4321),
        Result("nile", "naive", 1.0, {"80": 0.7, "95": 0.9}),
        Result("nile", "AutoETS", 0.9, {"80": 0.8, "95": 0.9}, 1.0),
    ]
    lines = table(results).splitlines()
    assert lines[0].split()[-2:] == ["serve", "ms"]
    assert lines[1].split()[-1] == "0.43"
    with next(iter(write_outputs(results, tmp_path))).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["serve_ms"] for row in rows] == ["0.4321", "nan", "nan"]


def test_the_ratio_is_to_the_best_peer_that_forecast_and_the_mean_to_unrounded_ratios() -> None:
    """A peer that failed (MASE not a number) listed before the others was taken as the best
    by `min`; the geometric mean was read back from the ratios printed to three decimals."""
    from benchmarks.accuracy.__main__ import table
    from benchmarks.accuracy.protocol import Result

    results = []
    for name, ours in (("a", 1.0004), ("b", 1.0034)):
        results += [
            Result(name, "stockcast", 0.5), Result(name, "stockcast+refit", ours),
            Result(name, "AutoGluon", float("nan")), Result(name, "naive", 2.0),
            Result(name, "AutoETS", 1.0),
        ]  # fmt: skip
    lines = table(results).splitlines()
    # The refit's ratio to AutoETS, and to naive.
    assert [line.split()[6:8] for line in lines[1:3]] == [["1.000", "0.500"], ["1.003", "0.502"]]
    # 1.0019 from the ratios; 1.0015 from the printed 1.000 and 1.003.
    assert lines[-1].endswith(": 1.002")


def test_accuracy_seeds_fit_stockcast_once_per_seed_with_the_overrides(monkeypatch) -> None:
    from types import SimpleNamespace

    import benchmarks.accuracy.__main__ as bench
    from benchmarks.accuracy.protocol import Result

    seen = []

    def fit(name, split, overrides, refit, experiment, prepared):
        seen.append([experiment, *overrides])
        mase = 0.5 if "seed=42" in overrides else 1.0
        return [Result(name, "stockcast", mase), Result(name, "stockcast+refit", mase)]

    series = SimpleNamespace(name="x", values=np.arange(50.0), season_length=1)
    monkeypatch.setattr(bench, "stockcast_default", fit)
    # The untimed warm-up fit comes first, with the same experiment and overrides.
    monkeypatch.setattr(bench, "warm_up", lambda *args: seen.append(["warm-up", *args]))
    monkeypatch.setattr(bench, "load_bench_series", lambda names: [series])
    # 50 values are too few for a real cut; the fits are faked.
    monkeypatch.setattr(bench, "prepared_cuts", lambda named, *args: unprepared(dict(named)))
    floors = []
    monkeypatch.setattr(
        bench,
        "naive",
        lambda name, split, floor: floors.append(floor) or Result(name, "naive", 1.0),
    )
    # The naive baseline's band floor is the run's: its experiment and overrides composed.
    monkeypatch.setattr(
        bench,
        "configured_min_relative_scale",
        lambda overrides: {("experiment=mlp_w10", "model.dropout=0"): 1e-3}[overrides],
    )
    monkeypatch.setattr(bench, "seasonal_naive", lambda *args: None)
    results = bench.run(bench.parse_args(["--no-peers", "--seeds", "42,1", "model.dropout=0"]))
    assert floors == [1e-3]
    assert seen == [
        ["warm-up", "mlp_w10", ["model.dropout=0"]],
        ["mlp_w10", "model.dropout=0", "seed=42"],
        ["mlp_w10", "model.dropout=0", "seed=1"],
    ]
    assert [(r.forecaster, r.mase) for r in results[:2]] == [
        ("stockcast", 0.75),
        ("stockcast+refit", 0.75),
    ]
    # Without --seeds: one fit with the config's seed.
    seen.clear()
    monkeypatch.setattr(
        bench,
        "configured_min_relative_scale",
        lambda overrides: {("experiment=auto", "model.dropout=0"): 1e-3}[overrides],
    )
    bench.run(bench.parse_args(["--no-peers", "--experiment", "auto", "model.dropout=0"]))
    assert seen == [["warm-up", "auto", ["model.dropout=0"]], ["auto", "model.dropout=0"]]


def test_a_warm_up_the_overrides_cannot_fit_is_skipped_with_a_line(capsys) -> None:
    """Overrides asking for a window longer than the warm-up series holds: the warm-up says it
    is skipped and the benchmark goes on (the real series may be long enough)."""
    from benchmarks.accuracy.forecasters import warm_up

    warm_up("mlp_w10", ["data.previous_time_window=96"])
    assert "warm-up skipped, so the first fit is timed cold: series" in capsys.readouterr().err


def test_the_benchmark_refuses_a_prepared_cut_other_than_its_held_out_start(
    tmp_path: Path,
) -> None:
    """Train and validation come from split fractions, which `split_lengths` rounds: one value
    more would train on a scored target, so the prepared cut is compared with the protocol's."""
    from benchmarks.accuracy.forecasters import refuse_another_cut
    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data

    cfg = compose_config(
        "train",
        ["data.length=200", "data.split.train=0.6", "data.split.val=0.2", "data.split.test=0.2"],
    )
    prepared = prepare_data(plain(cfg.data))
    refuse_another_cut(prepared, 160)
    with pytest.raises(RuntimeError, match="give train and validation 160 values where the held"):
        refuse_another_cut(prepared, 161)


def test_accuracy_refuses_a_series_name_it_does_not_know(capsys) -> None:
    """A misspelt name was skipped without a word; the trending and short series are named
    alongside the default ones."""
    import benchmarks.accuracy.__main__ as bench

    assert bench.parse_args(["--series", "nile,realgdp,fertility_india"]).series
    with pytest.raises(SystemExit):
        bench.parse_args(["--series", "nile,realgpd"])
    error = capsys.readouterr().err
    assert "--series names no series ['realgpd']; choose from" in error and "'realgdp'" in error


def test_short_walks_are_scored_only_when_named() -> None:
    from benchmarks.accuracy.series import gbm_series, load_bench_series

    named = load_bench_series(["walk150_1000", "gbm_1"])
    assert [(s.name, len(s.values), s.kind) for s in named] == [
        ("gbm_1", 1000, "random walk"),
        ("walk150_1000", 150, "random walk"),
    ]
    np.testing.assert_array_equal(named[1].values, gbm_series(1000, 150))
    assert not any(s.name.startswith("walk") for s in load_bench_series(["nile"]))


def test_the_accuracy_benchmarks_seasonal_naive_repeats_the_season_before_each_origin() -> None:
    """It subtracted each step twice: step k read the value 2k - season after the origin, a
    held-out target itself for a season of 4, and scored wineind 1.017 instead of 0.389."""
    from benchmarks.accuracy.forecasters import seasonal_naive
    from benchmarks.accuracy.protocol import HORIZON, cut

    season = 4
    values = 100.0 + np.tile([0.0, 1.0, 2.0, 3.0], 25)  # an exact season of 4
    split = cut(values)
    result = seasonal_naive("exact", split, season)
    assert result is not None and result.mase == 0.0
    # Values after an origin never reach its forecast: the last fifth jumps by 50, and each
    # step's forecast is the value at its position in the season before its origin.
    shifted = values.copy()
    shifted[split.start :] += 50.0
    moved = seasonal_naive("exact", cut(shifted), season)
    steps = np.arange(HORIZON)
    forecast = shifted[split.origins[:, None] - season + steps % season]
    errors = np.abs(forecast - shifted[split.origins[:, None] + steps])
    assert errors[0].tolist() == [50.0] * HORIZON  # the first origin sees no held-out value
    assert moved is not None and moved.mase == pytest.approx(errors.mean() / split.mase_scale)


def test_a_named_series_whose_package_is_missing_is_refused_and_an_unnamed_one_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run named taylor without pmdarima scored nothing and then failed drawing an empty
    plot; a run of every series dropped the series without a word."""
    import benchmarks.accuracy.__main__ as bench
    from benchmarks.accuracy import series

    def missing(package: str):
        def load() -> np.ndarray:
            raise ModuleNotFoundError(f"No module named '{package}'", name=package)

        return load

    # Only these public series, whatever is installed here.
    public = {
        "wineind": (missing("pmdarima"), 12),
        "taylor": (missing("pmdarima"), 48),
        "nile": (missing("statsmodels"), 1),
        "steady": (lambda: np.arange(1.0, 41.0), 1),
    }
    monkeypatch.setattr(series, "PUBLIC", public)
    # Which peers' packages are missing is another test's: this one reads the series alone.
    monkeypatch.setattr(bench, "warn_of_peers_not_installed", lambda: None)
    warmed = []
    monkeypatch.setattr(bench, "warm_up", lambda *args: warmed.append(args))
    with pytest.raises(SystemExit) as refused:
        bench.run(bench.parse_args(["--series", "taylor,gbm_1"]))
    assert str(refused.value) == (
        "--series taylor needs pmdarima, which is not installed; `make bench-accuracy` "
        "installs the data sets with the peers (.[peers])."
    )
    assert warmed == []
    loaded = [s.name for s in series.load_bench_series()]
    assert loaded == ["steady", *(f"gbm_{seed}" for seed in series.GBM_SEEDS)]
    assert capsys.readouterr().err == (
        "skipping wineind, taylor need pmdarima and nile needs statsmodels, which are not "
        "installed; `make bench-accuracy` installs the data sets with the peers (.[peers]).\n"
    )


def test_the_naive_baselines_band_floor_follows_the_runs_overrides() -> None:
    """It read the train config alone, so `data.min_relative_scale=...` in the run's overrides
    floored the model's bands and not the naive forecast's beside them."""
    from benchmarks.accuracy.forecasters import configured_min_relative_scale

    assert configured_min_relative_scale(("experiment=auto",)) == 1e-4
    assert (
        configured_min_relative_scale(("experiment=auto", "data.min_relative_scale=0.01")) == 0.01
    )


def test_the_bench_accepts_the_pipeline_settings_its_fits_read() -> None:
    """Its fits compose the pipeline's config (the refit reads pipeline.*), but the check before
    them composed the train config, which refused every pipeline.* override."""
    from benchmarks.accuracy.forecasters import configured_min_relative_scale
    from stockcast.errors import ConfigError

    overrides = ("experiment=mlp_w10", "pipeline.refit_budget=steps")
    assert configured_min_relative_scale(overrides) == 1e-4
    with pytest.raises(ConfigError, match=r"model\.nope is not a setting"):
        configured_min_relative_scale(("experiment=mlp_w10", "model.nope=1"))
