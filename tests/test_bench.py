"""The bench code runs end to end on tiny sizes and returns well-formed rows (no timing asserts)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import benchmarks.predict
import benchmarks.startup
from benchmarks import BENCHMARKS, BenchOptions, Row, format_table, run_benchmarks
from benchmarks.common import compose_train_cfg, median, peak_memory
from benchmarks.windowing import python_loop_windows
from stockcast.config.compose import compose_config
from stockcast.config.schema import validate_config
from stockcast.paths import PROJECT_ROOT
from stockcast.training.windows import sliding_windows
from tests.bench_helpers import output_dir_in_tmp  # noqa: F401 (autouse)
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
