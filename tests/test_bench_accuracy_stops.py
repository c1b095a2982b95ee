"""A bench-accuracy run stopped part way (Ctrl-C, an error a user can fix, Ctrl-C inside a
Lightning fit) writes the series it scored and keeps the earlier ones of its peers' CSV."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import BENCHMARKS
from benchmarks.accuracy.outputs import write_csv
from tests.bench_helpers import (
    _stopped_at_series_b,
    output_dir_in_tmp,  # noqa: F401 (autouse)
)


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
