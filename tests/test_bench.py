"""The bench code runs end to end on tiny sizes and returns well-formed rows (no timing asserts)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import benchmarks.predict
import benchmarks.startup
from benchmarks import BENCHMARKS, BenchOptions, Row, format_table, run_benchmarks
from benchmarks.accuracy.outputs import write_csv
from benchmarks.common import compose_train_cfg, median, peak_memory
from benchmarks.windowing import python_loop_windows
from stockcast.config.compose import compose_config
from stockcast.config.schema import validate_config
from stockcast.paths import PROJECT_ROOT
from stockcast.training.windows import sliding_windows
from tests.conftest import CLI_ENV
from tests.prewarmed import run_forked

# --quick's sizes, shrunk further (it already runs 1 round and 1 start-up per case), and with the
# validation row --quick leaves out.
TINY = replace(
    BenchOptions.quick(),
    train_points=3_000,
    train_repeats=1,
    window_points=20_000,
    loop_points=5_000,
    thread_steps=5,
    batch_cases=((20, 63), (200, 63), (20, 252)),
)
TINY.thread_budget_s, TINY.with_validation = 0.2, True


@pytest.fixture(autouse=True)
def output_dir_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench-accuracy's default --output-dir, which its writers make, under tmp_path: a test
    that gives none wrote into outputs/bench_accuracy in the checkout."""
    import benchmarks.accuracy.arguments as arguments

    monkeypatch.setattr(arguments, "OUTPUT_DIR", tmp_path / "outputs" / "bench_accuracy")


def _check(rows: list[Row], bench: str) -> None:
    assert rows and all(r.bench == bench for r in rows)
    for row in rows:
        assert row.value is None or (np.isfinite(row.value) and row.value > 0), row
        assert row.ratio is None or row.ratio > 0, row
    assert format_table(rows).count("\n") == len(rows) + 1


def test_training_rows_cover_every_variant() -> None:
    rows = BENCHMARKS["train"](TINY)
    _check(rows, "train")
    cases = [r.case for r in rows]
    assert cases[0].startswith("bare") and rows[0].ratio == 1.0
    default_spb = compose_train_cfg().data.steps_per_batch
    assert f"Trainer.fit, steps_per_batch={default_spb} (config)" in cases
    assert any("steps_per_batch=1" in c for c in cases)
    assert any("DataLoader(TensorDataset)" in c for c in cases)
    assert any("validating" in c for c in cases)
    assert sum(r.met is not None for r in rows) == 1  # only the headline is judged


def test_windowing_rows_and_loop_reference() -> None:
    rows = BENCHMARKS["windows"](TINY)
    _check(rows, "windows")
    assert {r.unit for r in rows} == {"s", "B"}
    values = np.arange(50.0)
    import torch

    assert np.array_equal(
        python_loop_windows(values, 7), sliding_windows(torch.from_numpy(values), 7).numpy()
    )


def test_peak_memory_sees_a_large_allocation() -> None:
    with peak_memory() as mem:
        block = np.ones(8 * 2**20 // 8)  # 8 MiB, touched
        del block
    assert mem.method
    assert mem.peak_bytes >= 4 * 2**20


def test_wall_time_times_new_interpreters() -> None:
    seconds = benchmarks.startup.wall_time(["-c", "import sys; sys.exit(0)"], 2)
    assert 0 < seconds < 60
    with pytest.raises(subprocess.CalledProcessError):
        benchmarks.startup.wall_time(["-c", "import sys; sys.exit(3)"], 1)


def forked_wall_time(args: Sequence[str], repeats: int) -> float:
    """`benchmarks.startup.wall_time` with forks of the prewarmed interpreter: the hook test
    checks the rows, and its commands then cost their own work only (the test above times new
    interpreters)."""
    env = os.environ | CLI_ENV
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        result = run_forked(args, PROJECT_ROOT, env, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        times.append(time.perf_counter() - begin)
    return median(times)


@pytest.mark.slow
def test_startup_threads_and_predict_hook_run(
    monkeypatch: pytest.MonkeyPatch, registered_store: Path
) -> None:
    def copy_the_sessions_model(store: Path) -> None:
        # The session's registered model stands in for the throwaway one (the bench measures
        # prediction, not the model); every command runs as a fork (above).
        shutil.copytree(registered_store, store, dirs_exist_ok=True)

    # The throwaway run's overrides still make a valid pipeline config.
    validate_config(compose_config("pipeline", benchmarks.predict.THROWAWAY_PIPELINE))
    monkeypatch.setattr(benchmarks.predict, "register_throwaway_model", copy_the_sessions_model)
    monkeypatch.setattr(benchmarks.predict, "wall_time", forked_wall_time)
    monkeypatch.setattr(benchmarks.startup, "wall_time", forked_wall_time)
    rows = run_benchmarks(["startup", "threads", "predict"], TINY)
    _check([r for r in rows if r.bench == "startup"], "startup")
    _check([r for r in rows if r.bench == "threads"], "threads")
    predict = [r for r in rows if r.bench == "predict"]
    assert len(predict) == 9 and all(r.value and r.value > 0 for r in predict)
    assert predict[1].ratio == pytest.approx(predict[1].value / predict[0].value)
    assert predict[2].met is not None, "the one-forecast latency is judged against its target"
    # Batch rows: ratios to the single-series call (row 3); the one with most series is judged.
    assert predict[5].ratio == pytest.approx(predict[5].value / predict[3].value)
    assert "200 series" in predict[5].case and predict[5].met is not None
    assert predict[4].met is None and predict[6].met is None
    # Signing the model's folder and verifying its signature, each judged.
    assert predict[7].case.startswith("sign ") and predict[8].case.startswith("verify ")
    assert predict[7].met is not None and predict[8].met is not None


def test_unknown_benchmark_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown benchmark"):
        run_benchmarks(["nope"], TINY)


def test_an_override_the_train_config_lacks_is_refused_before_any_benchmark(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ddp` and `replay` pass the overrides to a command of their own: one the config lacks
    stopped the bench with a traceback there, after the benchmarks before them had run."""
    from benchmarks.__main__ import main

    for name in BENCHMARKS:
        monkeypatch.setitem(BENCHMARKS, name, lambda opts: pytest.fail("a benchmark ran"))
    assert main(["--only", "startup,ddp", "foo=1"]) == 2
    assert capsys.readouterr().err == (
        "bench: cannot compose the bench's train config: foo is not a setting of the train "
        "config; remove it (its top level holds callbacks, data, fit, logger, model, num_threads, "
        "optim, optimized_metric, paths, registry, seed, tags and 4 more).\n"
    )


def test_a_replay_that_fails_says_why_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The replay benchmark's command failing ended the bench with a CalledProcessError
    traceback that left out everything the replay had said about why."""
    import benchmarks.replay
    from benchmarks.__main__ import main

    def fail(command, **kwargs):
        return subprocess.CompletedProcess(command, 2, "", "error: the replay's reason.\n")

    monkeypatch.setattr(benchmarks.replay.subprocess, "run", fail)
    assert main(["--only", "replay"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "bench: the replay exited with status 2: the replay's reason."
    )


def test_a_bench_stopped_with_ctrl_c_prints_the_benchmarks_that_finished(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C printed a traceback and lost the rows of every benchmark that had finished."""
    from benchmarks.__main__ import main

    def interrupted(opts: BenchOptions) -> list[Row]:
        raise KeyboardInterrupt

    monkeypatch.setitem(BENCHMARKS, "windows", lambda opts: [Row("windows", "view", 2.0, "s")])
    monkeypatch.setitem(BENCHMARKS, "startup", interrupted)
    assert main(["--only", "windows,startup"]) == 130
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].split()[:4] == ["windows", "view", "2.000", "s"]
    assert err.splitlines()[-1] == (
        "bench: stopped by Ctrl-C during startup; the table above holds windows, which finished."
    )
    assert main(["--only", "startup"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "bench: stopped by Ctrl-C during startup, before any benchmark finished."
    )


def test_a_bench_of_nothing_to_time_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A loop prefix shorter than one window printed negative timings and judged the speed
    target on them; zero rounds ran the fits, then found no median; an --only that names no
    benchmark printed an empty table as a pass, and one naming a benchmark twice ran it twice."""
    from dataclasses import replace

    from benchmarks.__main__ import main

    with pytest.raises(ValueError, match="--loop-points 5 holds no whole window of 15 values"):
        run_benchmarks(["windows"], replace(TINY, loop_points=5))
    # A series shorter than one window: not the loop prefix, which --loop-points cannot lengthen.
    for points in (14, 0):
        with pytest.raises(ValueError, match=f"--window-points {points} holds no whole window of"):
            run_benchmarks(["windows"], replace(TINY, window_points=points))
    # Refused before the benchmarks named before it run.
    assert main(["--only", "startup,windows", "--loop-points", "5"]) == 2
    assert capsys.readouterr().err == (
        "bench: --loop-points 5 holds no whole window of 15 values; give at least 15\n"
    )
    assert main(["--rounds", "0"]) == 2
    assert capsys.readouterr().err == "bench: --rounds is 0; time at least 1\n"
    # No benchmark named: an empty table and exit status 0.
    assert main(["--only", ","]) == 2
    assert capsys.readouterr().err == (
        "bench: --only ',' names no benchmark; choose from "
        "train,windows,startup,threads,predict,ddp,replay,panel\n"
    )
    assert main(["--only", "startup,windows,startup"]) == 2
    assert capsys.readouterr().err == (
        "bench: --only 'startup,windows,startup' names startup more than once; name each once\n"
    )


def test_overrides_the_panel_cannot_take_are_refused_before_any_benchmark(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """experiment=mlp_w10 composes for the train config, and failed only at the panel, after
    every other benchmark, asking to remove the panel's own data.num_series."""
    from benchmarks.__main__ import main

    ran = []
    monkeypatch.setitem(BENCHMARKS, "startup", lambda opts: ran.append("startup") or [])
    assert main(["--only", "startup,panel", "--quick", "experiment=mlp_w10"]) == 2
    assert ran == []
    assert capsys.readouterr().err == (
        "bench: the panel benchmark's experiment=market_global cannot take the overrides "
        "experiment=mlp_w10; leave them out, or leave panel out of --only\n"
    )


def test_the_loop_row_names_the_prefix_it_timed() -> None:
    """--window-points under --loop-points timed the whole series, and the row said it was
    measured on a prefix longer than the series."""
    from benchmarks.windowing import bench_windowing

    rows = bench_windowing(replace(TINY, window_points=1_000, loop_points=5_000))
    assert rows[0].note.startswith(
        "1,000-point float64 series (0 MiB); measured on a 1,000-point prefix ×1.00 (linear)"
    )


def test_the_replay_rows_name_the_experiment_that_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    """make bench ARGS="experiment=auto" replayed auto, and its rows said mlp_w10."""
    import benchmarks.replay
    from benchmarks.replay import bench_replay

    commands = []

    def replayed(days: int, folder: Path, overrides: list[str]) -> list[dict]:
        commands.append(overrides)
        return [{"seconds": 2.0}, {"seconds": 1.0}]

    monkeypatch.setattr(benchmarks.replay, "replay_days", replayed)
    rows = bench_replay(replace(TINY, overrides=["experiment=auto", "model.dropout=0"]))
    assert [row.case for row in rows[:2]] == [
        "make replay experiment=auto, day 1",
        "make replay experiment=auto, per later day (1 days, default)",
    ]
    assert commands[0][0] == "experiment=auto"
    assert bench_replay(TINY)[0].case == "make replay experiment=mlp_w10, day 1"


def test_too_few_train_points_are_refused_as_the_flag_before_any_benchmark(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--train-points 10` was refused after the benchmarks before `train` had run, naming
    data.length=10, which the user never set; 0 points stopped it with an IndexError."""
    from benchmarks.__main__ import main

    for name in BENCHMARKS:
        monkeypatch.setitem(BENCHMARKS, name, lambda opts: pytest.fail("a benchmark ran"))
    for points in (10, 0):
        assert main(["--only", "startup,train", "--train-points", str(points)]) == 2
        assert capsys.readouterr().err == (
            f"bench: --train-points {points} is too few points for a window of 15 values in "
            "each of the train, validation and test splits; give at least 32\n"
        )
    monkeypatch.setitem(BENCHMARKS, "train", lambda opts: [])
    assert main(["--only", "train", "--train-points", "32"]) == 0


def test_the_ddp_note_names_the_tickers_its_runs_train_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The note said "2 epochs of 3,000 points" where both runs trained on one ticker of 2,000
    values (whole tickers of `SERIES_LENGTH`, at least one)."""
    import json

    import benchmarks.ddp as ddp

    commands = []

    def fit(command, **kwargs):
        commands.append(command)
        timing = next(a for a in command if a.startswith("+callbacks.fit_timer.path="))
        path = Path(timing.split("=", 1)[1])
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"fit_s": 1.0, "windows": 100}))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(ddp.subprocess, "run", fit)
    for points, tickers, named in ((3_000, 1, "1 ticker"), (40_000, 20, "20 tickers")):
        commands.clear()
        rows = ddp.bench_ddp(replace(TINY, train_points=points))
        assert all(f"data.num_series={tickers}" in command for command in commands)
        assert all(f"(2 epochs of {named} × 2,000 values, validation" in r.note for r in rows)


def test_panel_peer_scores_stockcast_test_windows(tmp_path: Path) -> None:
    """The NeuralForecast comparison is only fair if both sides forecast the same windows: every
    origin of each ticker's test split, inputs just before it, targets inside it."""
    from benchmarks.panel.peer import held_out_scales, held_out_windows
    from benchmarks.panel.size import panel_overrides
    from benchmarks.panel.train import _long_series_data
    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.data.sources import load_series
    from stockcast.data.split import split_lengths

    data_cfg = plain(compose_train_cfg(panel_overrides(3, ["data.length=200"])).data)
    prepared = prepare_data(data_cfg)
    inputs, targets = held_out_windows(prepared)
    scales = held_out_scales(prepared)
    p, h = int(data_cfg["previous_time_window"]), int(data_cfg["next_time_window"])
    expected_inputs, expected_targets, expected_scales = [], [], []
    for item in load_series(data_cfg):
        lengths = split_lengths(len(item), data_cfg["split"])
        origins = np.arange(lengths["train"] + lengths["val"], len(item) - h + 1)
        expected_inputs.append(item.values[origins[:, None] - p + np.arange(p)])
        expected_targets.append(item.values[origins[:, None] + np.arange(h)])
        # Scored in each ticker's units: its own train split's one-step naive MAE.
        own = np.abs(np.diff(item.values[: lengths["train"]])).mean()
        expected_scales.append(np.full(len(origins), own))
    assert np.array_equal(inputs, np.concatenate(expected_inputs))
    assert np.array_equal(targets, np.concatenate(expected_targets))
    assert np.allclose(scales, np.concatenate(expected_scales), rtol=1e-9)
    assert np.ptp(scales) > 0.01 * scales.max(), "the tickers' scales differ: not one pooled scale"
    # The single-series reference: the same points, as one undated series of the file source.
    long = prepare_data(_long_series_data(data_cfg, load_series(data_cfg), tmp_path))
    assert len(long.meta["series_ids"]) == 1
    assert long.meta["n_points"] == prepared.meta["n_points"]


def test_a_panel_of_one_series_scores_its_panel_and_own_weights_alike(tmp_path: Path) -> None:
    """One series: the panel's weights are that series' own, so the two columns agree; the
    last price's MASE is the series' own test MAE of it over its train one-step naive MAE."""
    from benchmarks.accuracy.panels import score_panel, table
    from benchmarks.accuracy.series import load_bench_series

    panels = {"one": (("dk_lrm",), "QS", "1974-01-01")}
    # Its validation split is short: the fit weighs on rolling-origin folds too, and so must
    # the series' own weights for the two columns to agree.
    fast = ["trainer.max_steps=20", "fit.val_every_steps=10", "fit.naive_fallback=false"]
    scores = score_panel("one", 42, overrides=fast, panels=panels)
    assert set(scores.mase) == {"panel weights", "per-series weights", "naive"}
    assert scores.mase["panel weights"]["dk_lrm"] == pytest.approx(
        scores.mase["per-series weights"]["dk_lrm"], rel=1e-9
    )
    values = load_bench_series(["dk_lrm"])[0].values
    n_train, n_val = round(len(values) * 0.7), round(len(values) * 0.15)
    start = n_train + n_val
    origins = np.arange(start, len(values) - 5 + 1)
    actual = values[origins[:, None] + np.arange(5)]
    naive = np.abs(values[origins - 1][:, None] - actual).mean()
    scale = np.abs(np.diff(values[:n_train])).mean()
    assert scores.mase["naive"]["dk_lrm"] == pytest.approx(naive / scale)
    assert table([scores]).splitlines()[1].startswith("one")


def test_the_panel_benchmark_refuses_an_unknown_panel(capsys) -> None:
    from benchmarks.accuracy.panels import main

    with pytest.raises(SystemExit) as raised:
        main(["--panels", "macro,nope"])
    assert raised.value.code == 2
    assert "unknown panel 'nope'; choose from macro, fertility, danish" in capsys.readouterr().err


def unprepared(panels: Iterable[str], *args: object) -> AbstractContextManager[dict[str, None]]:
    """Stands in for the data prepared before any fit, where the fits are faked: none read."""
    return nullcontext(dict.fromkeys(panels))


def test_panels_stopped_with_ctrl_c_print_the_fits_that_finished(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C printed a traceback and lost the table of the panels' fits that had finished."""
    import benchmarks.accuracy.panels as panels

    def fit(panel: str, seed: int, *args: object, **kwargs: object) -> panels.PanelScores:
        if seed == 2:
            raise KeyboardInterrupt
        per_series = {"a": 0.5, "b": 2.0}
        return panels.PanelScores(panel, seed, {f: per_series for f in panels.FORECASTERS})

    monkeypatch.setattr(panels, "prepared_panels", unprepared)
    monkeypatch.setattr(panels, "score_panel", fit)
    assert panels.main(["--panels", "danish", "--seeds", "1,2"]) == 130
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].split()[:5] == ["danish", "1", "1.250", "(geo", "1.000)"]
    assert err.splitlines()[-1] == "panels: stopped by Ctrl-C after 1 fit."
    assert panels.main(["--panels", "danish", "--seeds", "2"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "panels: stopped by Ctrl-C before any fit finished."
    )


def test_panels_stopped_by_an_error_print_the_fits_that_finished_then_refuse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An error a user can fix at the second fit was its one line alone: the table of the fits
    that had finished was lost, as Ctrl-C no longer lost it."""
    import benchmarks.accuracy.panels as panels
    from stockcast.errors import DataError

    def fit(panel: str, seed: int, *args: object, **kwargs: object) -> panels.PanelScores:
        if seed == 2:
            raise DataError("dk_lrm: cannot be fitted")
        per_series = {"a": 0.5, "b": 2.0}
        return panels.PanelScores(panel, seed, {f: per_series for f in panels.FORECASTERS})

    monkeypatch.setattr(panels, "prepared_panels", unprepared)
    monkeypatch.setattr(panels, "score_panel", fit)
    assert panels.main(["--panels", "danish", "--seeds", "1,2"]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].split()[:5] == ["danish", "1", "1.250", "(geo", "1.000)"]
    assert err.splitlines()[-2:] == [
        "panels: stopped after 1 fit.",
        "panels: dk_lrm: cannot be fitted",
    ]
    assert panels.main(["--panels", "danish", "--seeds", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "panels: dk_lrm: cannot be fitted\n"


def test_a_panel_too_short_for_the_windows_is_refused_before_any_fit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A panel too short for the run's windows (danish with data.previous_time_window=40) was
    refused at its turn, after the fits of the panels before it."""
    import benchmarks.accuracy.panels as panels

    fitted = []
    monkeypatch.setattr(panels, "score_panel", lambda panel, *a, **k: fitted.append(panel))
    # Random walks, which no optional package reads: 1000 points each, and 150.
    monkeypatch.setitem(panels.PANELS, "long", (("gbm_1", "gbm_2"), "D", "2000-01-01"))
    monkeypatch.setitem(panels.PANELS, "short", (("walk150_1000",), "D", "2000-01-01"))
    argv = ["--panels", "long,short", "--experiment", "mlp_w10", "data.previous_time_window=120"]
    assert panels.main(argv) == 2
    assert fitted == []
    assert capsys.readouterr().err.startswith(
        "panels: panel short: series 'walk150_1000' has 150 points"
    )


def test_panels_arguments_and_settings_are_one_sentence_before_any_fit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--seeds 42,abc was a ValueError traceback after the first panel's fit, and an override
    or experiment that does not compose a ConfigError traceback, exit 1."""
    import benchmarks.accuracy.panels as panels

    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("fitted before the arguments were checked")

    monkeypatch.setattr(panels, "score_panel", no_fit)
    for argv in (["--seeds", "42,abc"], ["--seeds", "-5"], ["--seeds", ","], ["--seeds", "1,1"]):
        with pytest.raises(SystemExit) as stopped:
            panels.main(["--panels", "danish", *argv])
        assert stopped.value.code == 2
        assert "error: --seeds" in capsys.readouterr().err
    # A panel named twice was fitted twice per seed, and its seeds read "42,42" in the table.
    with pytest.raises(SystemExit) as stopped:
        panels.main(["--panels", "danish,macro,danish"])
    assert stopped.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(
            "error: --panels 'danish,macro,danish' names danish more than once; name each once"
        )
    )
    for argv, said in (
        (["--experiment", "nope"], "experiment=nope is not one of the experiment configs"),
        (["model.nope=1"], "model.nope is not a setting of the pipeline config"),
    ):
        assert panels.main(["--panels", "danish", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("panels: cannot compose") and said in err
        assert "Traceback" not in err


def test_series_and_panels_take_spaces_after_commas_as_seeds_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--series "wineind, gbm_1" named no series ' gbm_1', and --panels "macro, danish" an
    unknown panel ' danish', where --seeds "42, 1" and bench's --only took the space."""
    import benchmarks.accuracy.panels as panels
    from benchmarks.accuracy.arguments import parse_args

    assert parse_args(["--series", "wineind, gbm_1 "]).series == "wineind,gbm_1"
    fitted = []

    def fit(panel: str, seed: int, *args: object, **kwargs: object) -> panels.PanelScores:
        fitted.append(panel)
        per_series = {"a": 1.0}
        return panels.PanelScores(panel, seed, {f: per_series for f in panels.FORECASTERS})

    monkeypatch.setattr(panels, "prepared_panels", unprepared)
    monkeypatch.setattr(panels, "score_panel", fit)
    assert panels.main(["--panels", "macro, danish"]) == 0
    assert fitted == ["macro", "danish"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        panels.main(["--panels", " , "])
    assert stopped.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith("error: --panels ' , ' names no panel; leave it out for every one")
    )


def test_a_damaged_peers_csv_is_one_sentence(tmp_path: Path) -> None:
    """A cell that is no number was a ValueError traceback, bytes that are not UTF-8 a
    UnicodeDecodeError one."""
    from benchmarks.accuracy.peer_cache import read_peer_cache

    head = (
        "series,forecaster,mase,coverage_80,coverage_95,fit_s,serve_ms,scored_sha256,peer_version"
    )
    for body, said in (
        (b"gbm_1,AutoETS,abc,0.8,0.9,1.0,nan,d1,1.0\n", "line 2 (AutoETS on 'gbm_1') has a mase"),
        (b"gbm_1,AutoETS,1.0,0.8,0.9,,nan,d1,1.0\n", "fit_s or coverage that is no number"),
        (b"gbm_1,AutoETS,1.0,0.8,0.9,1.0,nan,d1,1.0\n\xff\xfe\n", "cannot be read as a CSV"),
    ):
        damaged = tmp_path / "peers.csv"
        damaged.write_bytes(head.encode() + b"\n" + body)
        with pytest.raises(SystemExit) as stopped:
            read_peer_cache(damaged)
        assert said in str(stopped.value.code)


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


def test_accuracy_peers_come_from_an_earlier_csv_only_where_scored_alike(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    from types import SimpleNamespace

    import benchmarks.accuracy.__main__ as bench
    from benchmarks.accuracy import peers as bench_peers
    from benchmarks.accuracy.protocol import Result

    values = {"a": np.arange(1.0, 60.0), "b": np.linspace(5.0, 9.0, 60)}
    seasons = {"a": 1, "b": 1}
    fitted = []

    def peer(method):
        def fit(name, split, *args):
            fitted.append((name, method))
            return Result(name, method, {"a": 0.5, "b": 0.7}[name], {"80": 0.8}, 2.0)

        return fit

    def load(names):
        return [SimpleNamespace(name=n, values=values[n], season_length=seasons[n]) for n in values]

    monkeypatch.setattr(bench, "load_bench_series", load)
    monkeypatch.setattr(bench, "warm_up", lambda *args: None)
    monkeypatch.setattr(
        bench, "stockcast_default", lambda name, *a, **k: [Result(name, "stockcast", 0.6)]
    )
    monkeypatch.setattr(bench, "naive", lambda name, split, floor: Result(name, "naive", 1.0))
    monkeypatch.setattr(bench, "seasonal_naive", lambda *args: None)
    for name, method in [("auto_ets", "AutoETS"), ("auto_theta", "AutoTheta"),
                         ("neuralforecast_mlp", "NeuralForecast MLP")]:  # fmt: skip
        monkeypatch.setattr(bench, name, peer(method))
    monkeypatch.setattr(bench, "neuralforecast_nhits", lambda *args: None)
    first = tmp_path / "first"
    assert bench.main(["--output-dir", str(first)]) == 0
    assert len(fitted) == 6
    # Series b's values change: only its peers are fitted again; a's are read back as written.
    values["b"] = values["b"] * 2
    fitted.clear()
    results = bench.run(bench.parse_args(["--peers-from", str(first / "bench_accuracy.csv")]))
    assert fitted == [("b", "AutoETS"), ("b", "AutoTheta"), ("b", "NeuralForecast MLP")]
    cached = [r for r in results if r.series == "a" and r.forecaster == "AutoTheta"]
    assert cached == [Result("a", "AutoTheta", 0.5, {"80": 0.8}, 2.0)]
    # A CSV that lacks one peer's row for a series: only that peer is fitted for it.
    partial_csv = tmp_path / "partial.csv"
    lines = (first / "bench_accuracy.csv").read_text().splitlines(keepends=True)
    partial_csv.write_text("".join(line for line in lines if "NeuralForecast MLP" not in line))
    values["b"] = values["b"] / 2
    fitted.clear()
    bench.run(bench.parse_args(["--peers-from", str(partial_csv)]))
    assert fitted == [("a", "NeuralForecast MLP"), ("b", "NeuralForecast MLP")]
    # With --no-peers, a series the CSV holds no peers of says so (its ratio is to naive only).
    values["b"] = values["b"] * 3
    capsys.readouterr()
    bench.run(bench.parse_args(["--peers-from", str(partial_csv), "--no-peers"]))
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warned) == 1 and "holds no peers of b scored as this run scores it" in warned[0]
    values["b"] = values["b"] / 3
    # The same values with another season (NHITS reads two of them): scored again.
    seasons["a"] = 12
    fitted.clear()
    bench.run(bench.parse_args(["--peers-from", str(first / "bench_accuracy.csv")]))
    refitted = [peer for series, peer in fitted if series == "a"]
    assert refitted == ["AutoETS", "AutoTheta", "NeuralForecast MLP"]
    seasons["a"] = 1
    # A NeuralForecast upgrade: only its model is fitted again, on every series (b's values as
    # first written: times and over 3 moved them by a rounding).
    values["b"] = np.linspace(5.0, 9.0, 60)
    installed = bench_peers.installed_version
    for version in ("9.9", None):
        monkeypatch.setattr(
            bench_peers,
            "installed_version",
            lambda package, v=version: v if package == "neuralforecast" else installed(package),
        )
        fitted.clear()
        capsys.readouterr()
        results = bench.run(bench.parse_args(["--peers-from", str(first / "bench_accuracy.csv")]))
        nf = [r for r in results if r.forecaster == "NeuralForecast MLP"]
        if version is not None:
            assert fitted == [("a", "NeuralForecast MLP"), ("b", "NeuralForecast MLP")]
        else:  # not installed here: this run cannot fit it, so the CSV's rows stand
            assert fitted == [] and [r.mase for r in nf] == [0.5, 0.7]
            assert "warning" not in capsys.readouterr().err
    monkeypatch.setattr(bench_peers, "installed_version", installed)
    # A peer the CSV holds, scored otherwise (here its settings), that this run does not fit
    # either: said, not silently left out of the ratio.
    other = tmp_path / "other_settings.csv"
    rows = (first / "bench_accuracy.csv").read_text().splitlines()
    theta = next(i for i, line in enumerate(rows) if line.startswith("a,AutoTheta,"))
    cells = rows[theta].split(",")
    cells[-2] = "0" * 64  # another digest: scored under other settings
    rows[theta] = ",".join(cells)
    other.write_text("\n".join(rows) + "\n")
    capsys.readouterr()
    results = bench.run(bench.parse_args(["--peers-from", str(other), "--no-peers"]))
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warned == [
        f"warning: {other} holds AutoTheta of a scored otherwise than this run scores it, and "
        "this run does not fit it again; its ratio leaves it out"
    ]
    assert {r.forecaster for r in results if r.series == "a"} >= {"AutoETS", "NeuralForecast MLP"}
    # Without a CSV, --no-peers says what the ratios are to.
    capsys.readouterr()
    bench.run(bench.parse_args(["--no-peers"]))
    assert "ratio to the best peer, and their geometric mean, are to naive and seasonal" in (
        capsys.readouterr().err
    )
    # A CSV of the earlier format (one digest for all peers, no version column) says why
    # every peer is fitted again.
    lines = (first / "bench_accuracy.csv").read_text().splitlines()
    older = tmp_path / "older.csv"
    older.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    fitted.clear()
    capsys.readouterr()
    bench.run(bench.parse_args(["--peers-from", str(older)]))
    assert len(fitted) == 6
    assert "was written before each peer's version had a column of its own" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit, match="is not a file"):
        bench.run(bench.parse_args(["--peers-from", str(tmp_path / "missing.csv")]))
    # A CSV of something else is refused in one sentence naming what it lacks, before any fit.
    other = tmp_path / "other.csv"
    other.write_text("series,forecaster,mase\na,AutoETS,0.5\n")
    fitted.clear()
    with pytest.raises(SystemExit, match=r"has no fit_s, scored_sha256 column\(s\)"):
        bench.run(bench.parse_args(["--peers-from", str(other)]))
    assert fitted == []


def _stopped_at_series_b(monkeypatch) -> list[Any]:
    """An accuracy run over stand-ins of series a and b (returned), whose fit of b is stopped
    by Ctrl-C."""
    from types import SimpleNamespace

    import benchmarks.accuracy.__main__ as bench
    from benchmarks.accuracy.protocol import Result

    def fit(name, split, overrides, refit, experiment, prepared):
        if name == "b":
            raise KeyboardInterrupt
        return [Result(name, "stockcast", 0.5), Result(name, "stockcast+refit", 0.5)]

    named = [SimpleNamespace(name=n, values=np.arange(1.0, 51.0), season_length=1) for n in "ab"]
    monkeypatch.setattr(bench, "stockcast_default", fit)
    monkeypatch.setattr(bench, "warm_up", lambda *args: None)
    monkeypatch.setattr(bench, "load_bench_series", lambda names: named)
    monkeypatch.setattr(bench, "naive", lambda name, split, floor: Result(name, "naive", 1.0))
    monkeypatch.setattr(bench, "seasonal_naive", lambda *args: None)
    return named


def test_a_run_stopped_with_ctrl_c_writes_the_series_it_scored(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    """Ctrl-C printed a traceback and wrote nothing: the series scored before it (minutes of
    peers' fits each) were lost, and the last whole run's CSV is left as it was."""
    import benchmarks.accuracy.__main__ as bench

    named = _stopped_at_series_b(monkeypatch)
    whole = tmp_path / "bench_accuracy.csv"
    whole.write_text("the last whole run\n")
    assert bench.main(["--no-peers", "--output-dir", str(tmp_path)]) == 130
    out, err = capsys.readouterr()
    stopped = tmp_path / "bench_accuracy_stopped.csv"
    assert err.splitlines()[-1] == (
        f"bench-accuracy: stopped by Ctrl-C after 1 series; their scores are in {stopped}, "
        "which --peers-from takes to reuse their peers' scores."
    )
    assert "Traceback" not in err
    assert out.splitlines()[1].split()[:4] == ["a", "0.500", "0.500", "1.000"]
    rows = [line.split(",")[:3] for line in stopped.read_text().splitlines()[1:]]
    assert rows == [
        ["a", "stockcast", "0.5"],
        ["a", "stockcast+refit", "0.5"],
        ["a", "naive", "1.0"],
    ]
    assert whole.read_text() == "the last whole run\n"
    # Stopped before the first series was scored: nothing to write.
    monkeypatch.setattr(bench, "load_bench_series", lambda names: named[1:])
    assert bench.main(["--no-peers", "--output-dir", str(tmp_path / "none")]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "bench-accuracy: stopped by Ctrl-C before any series was scored."
    )
    assert not (tmp_path / "none" / "bench_accuracy_stopped.csv").exists()


def test_a_run_stopped_by_an_error_writes_the_series_it_scored_then_refuses(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    """An error a user can fix at series b was its one line alone: the series scored before
    it (minutes of peers' fits each) were lost, as Ctrl-C no longer lost them."""
    import benchmarks.accuracy.__main__ as bench
    from benchmarks.accuracy.protocol import Result
    from stockcast.errors import DataError

    def fit(name, split, overrides, refit, experiment, prepared):
        if name == "b":
            raise DataError("b: cannot be fitted")
        return [Result(name, "stockcast", 0.5), Result(name, "stockcast+refit", 0.5)]

    _stopped_at_series_b(monkeypatch)
    monkeypatch.setattr(bench, "stockcast_default", fit)
    assert bench.main(["--no-peers", "--output-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    stopped = tmp_path / "bench_accuracy_stopped.csv"
    assert err.splitlines()[-2:] == [
        f"bench-accuracy: stopped after 1 series; their scores are in {stopped}, which "
        "--peers-from takes to reuse their peers' scores.",
        "bench-accuracy: b: cannot be fitted",
    ]
    assert out.splitlines()[1].split()[:4] == ["a", "0.500", "0.500", "1.000"]
    rows = [line.split(",")[:3] for line in stopped.read_text().splitlines()[1:]]
    assert [row[0] for row in rows] == ["a", "a", "a"]
    assert not (tmp_path / "bench_accuracy.csv").exists()


def test_accuracy_warns_before_any_fit_of_peers_whose_package_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outside make bench-accuracy, a missing statsforecast left AutoETS and AutoTheta out of
    every series' ratio to the best peer without a word."""
    import benchmarks.accuracy.__main__ as bench

    installed = {"statsforecast": None, "neuralforecast": "3.0"}
    monkeypatch.setattr(bench, "installed_version", installed.__getitem__)
    monkeypatch.setattr(bench, "load_bench_series", lambda names: [])
    monkeypatch.setattr(bench, "configured_min_relative_scale", lambda overrides: 1e-3)
    monkeypatch.setattr(bench, "warm_up", lambda *args: None)
    assert bench.run(bench.parse_args([])) == []
    assert capsys.readouterr().err.splitlines()[0] == (
        "warning: statsforecast not installed (pip install -e '.[peers]'; make bench-accuracy "
        "installs it): each series' ratio to the best peer leaves out AutoETS, AutoTheta, which "
        "this run cannot fit"
    )
    installed["statsforecast"] = "2.0"
    bench.run(bench.parse_args([]))
    assert "not installed" not in capsys.readouterr().err


def test_a_run_stopped_again_keeps_the_earlier_series_of_its_peers_csv(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    """Stopped again with --peers-from bench_accuracy_stopped.csv, a run wrote over that file
    with the series it reached, and lost the rows of every series the first run had scored."""
    import benchmarks.accuracy.__main__ as bench
    from benchmarks.accuracy.protocol import Result

    _stopped_at_series_b(monkeypatch)
    stopped = tmp_path / "bench_accuracy_stopped.csv"
    earlier = [("b", "AutoETS", 0.7), ("a", "AutoETS", 0.9)]
    write_csv([Result(name, peer, mase) for name, peer, mase in earlier], stopped)
    argv = ["--no-peers", "--peers-from", str(stopped), "--output-dir", str(tmp_path)]
    assert bench.main(argv) == 130
    capsys.readouterr()
    rows = [line.split(",")[:3] for line in stopped.read_text().splitlines()[1:]]
    # a as scored now, then b, which this run did not reach, as the earlier CSV held it.
    assert rows == [
        ["a", "stockcast", "0.5"],
        ["a", "stockcast+refit", "0.5"],
        ["a", "naive", "1.0"],
        ["b", "AutoETS", "0.7"],
    ]


def lightning_interrupted_fit(*args: object, **kwargs: object) -> None:
    """A fit Ctrl-C interrupted, ended as Lightning's `_call_and_handle_interrupt` ends it."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        sys.exit(1)


def test_ctrl_c_during_a_lightning_fit_stops_the_benchmarks_as_ctrl_c(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    """Lightning ends a fit Ctrl-C interrupted with exit status 1: a run stopped during one
    (NeuralForecast's, or make bench's own) ended silently, with status 1, and lost what it had
    scored; any other exit stays as it is."""
    from types import SimpleNamespace

    import benchmarks.accuracy.__main__ as bench
    from benchmarks.__main__ import main
    from benchmarks.accuracy.protocol import Result

    monkeypatch.setattr(bench, "stockcast_default", lightning_interrupted_fit)
    monkeypatch.setattr(bench, "warm_up", lambda *args: None)
    series = SimpleNamespace(name="a", values=np.arange(1.0, 51.0), season_length=1)
    monkeypatch.setattr(bench, "load_bench_series", lambda names: [series])
    monkeypatch.setattr(bench, "naive", lambda name, split, floor: Result(name, "naive", 1.0))
    assert bench.main(["--no-peers", "--output-dir", str(tmp_path)]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "bench-accuracy: stopped by Ctrl-C before any series was scored."
    )
    monkeypatch.setitem(BENCHMARKS, "train", lightning_interrupted_fit)
    assert main(["--only", "train"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "bench: stopped by Ctrl-C during train, before any benchmark finished."
    )
    monkeypatch.setitem(BENCHMARKS, "train", lambda opts: sys.exit(1))
    with pytest.raises(SystemExit):
        main(["--only", "train"])


def test_no_peers_fits_no_peer_autogluon_included(monkeypatch) -> None:
    """make bench-accuracy adds --autogluon-python wherever .venv-autogluon exists, so
    ARGS=--no-peers still fitted AutoGluon, at up to 120 s a series."""
    from types import SimpleNamespace

    import benchmarks.accuracy.__main__ as bench
    from benchmarks.accuracy.protocol import cut

    monkeypatch.setattr(bench, "autogluon", lambda *args: pytest.fail("AutoGluon was fitted"))
    series = SimpleNamespace(name="a", values=np.arange(1.0, 101.0), season_length=1)
    args = SimpleNamespace(no_peers=True, autogluon_python="/venv/bin/python")
    assert bench.peer_results(args, series, cut(series.values), {}) == []


def test_accuracy_scores_autogluon_through_its_own_interpreter(tmp_path: Path, capsys) -> None:
    from benchmarks.accuracy.autogluon_runner import frame
    from benchmarks.accuracy.peers import autogluon
    from benchmarks.accuracy.protocol import HORIZON, cut

    split = cut(np.arange(1.0, 101.0))
    # A stand-in interpreter that answers as the runner does: the last value of each history,
    # with bands of +-1 (80%) and +-3 (95%).
    fake = tmp_path / "python"
    fake.write_text(
        "#!" + sys.executable + "\n"
        "import json, sys\n"
        "req = json.load(open(sys.argv[2]))\n"
        "mean = [[req['values'][o - 1]] * req['horizon'] for o in req['origins']]\n"
        "off = {0.025: -3, 0.1: -1, 0.9: 1, 0.975: 3}\n"
        "q = {str(k): [[v + off[k] for v in row] for row in mean] for k in req['quantiles']}\n"
        "json.dump({'mean': mean, 'quantiles': q, 'fit_seconds': 1.5, 'models': ['Naive'],"
        " 'best': 'Naive'}, open(sys.argv[3], 'w'))\n"
    )
    fake.chmod(0o755)
    result = autogluon("line", split, 1, str(fake))
    # The series rises by 1 a step: the last value misses step h by h, the MAE is 3.
    assert result.forecaster == "AutoGluon" and result.mase == pytest.approx(3.0)
    assert result.coverage == {"80": pytest.approx(1 / HORIZON), "95": pytest.approx(3 / HORIZON)}
    assert result.fit_seconds == 1.5
    fake.write_text("#!/bin/sh\necho 'No module named autogluon' >&2\nexit 1\n")
    assert autogluon("line", split, 1, str(fake)) is None
    assert autogluon("line", split, 1, str(tmp_path / "missing")) is None
    err = capsys.readouterr().err
    assert "AutoGluon failed on line: No module named autogluon" in err
    assert "no interpreter at" in err
    # The runner gives AutoGluon one item per history, each the values before its end.
    items = frame(split.values, [3, 5], "YS")
    assert items.groupby("item_id")["target"].apply(list).to_dict() == {
        "3": [1.0, 2.0, 3.0],
        "5": [1.0, 2.0, 3.0, 4.0, 5.0],
    }


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


def test_a_peer_score_is_keyed_by_the_protocol_and_its_own_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from benchmarks.accuracy import peer_cache, peers

    values = np.linspace(1.0, 2.0, 50)
    first = peer_cache.series_digests(values, 1)
    assert peer_cache.series_digests(values.copy(), 1) == first
    assert len(set(first.values())) == len(first)  # one per peer, and the protocol's
    # NHITS reads two seasons: a season changes its settings, and the protocol every digest.
    assert peers.peer_settings("NeuralForecast NHITS", 12) != peers.peer_settings(
        "NeuralForecast NHITS", 1
    )
    monkeypatch.setattr(peer_cache, "HORIZON", 7)
    moved = peer_cache.series_digests(values, 1)
    assert all(moved[name] != first[name] for name in first)
    monkeypatch.undo()
    # AutoGluon's version is read from its own interpreter.
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 1.6.3\n")
    fake.chmod(0o755)
    assert peers.peer_version("AutoGluon", str(fake)) == "1.6.3"
    assert peers.peer_version("AutoGluon", str(tmp_path / "missing")) is None
    assert peers.peer_version("AutoGluon", "") is None
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\necho 1.6.3\nexit 1\n")
    failing.chmod(0o755)
    assert peers.peer_version("AutoGluon", str(failing)) is None


def test_a_run_of_some_series_keeps_the_other_series_of_its_peers_csv(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    """README's `--peers-from .../bench_accuracy.csv` with `--series X` wrote over that CSV with
    X's rows alone, and lost the cached peers of every other series."""
    from types import SimpleNamespace

    import benchmarks.accuracy.__main__ as bench
    from benchmarks.accuracy.protocol import Result

    named = [SimpleNamespace(name=n, values=np.arange(1.0, 51.0), season_length=1) for n in "ab"]
    monkeypatch.setattr(
        bench, "stockcast_default", lambda name, *a, **k: [Result(name, "stockcast", 0.5)]
    )
    monkeypatch.setattr(bench, "warm_up", lambda *args: None)
    monkeypatch.setattr(bench, "load_bench_series", lambda names: named[:1])
    monkeypatch.setattr(bench, "naive", lambda name, split, floor: Result(name, "naive", 1.0))
    monkeypatch.setattr(bench, "seasonal_naive", lambda *args: None)
    csv_path = tmp_path / "bench_accuracy.csv"
    earlier = [("a", "AutoETS", 0.9), ("b", "stockcast", 0.6), ("b", "AutoETS", 0.7)]
    write_csv([Result(name, peer, mase) for name, peer, mase in earlier], csv_path)
    argv = ["--no-peers", "--peers-from", str(csv_path), "--output-dir", str(tmp_path)]
    assert bench.main(argv) == 0
    capsys.readouterr()
    rows = [line.split(",")[:3] for line in csv_path.read_text().splitlines()[1:]]
    # a as scored now (its AutoETS row, of no digest, not reused), then b as the CSV held it.
    assert rows == [
        ["a", "stockcast", "0.5"],
        ["a", "naive", "1.0"],
        ["b", "stockcast", "0.6"],
        ["b", "AutoETS", "0.7"],
    ]
