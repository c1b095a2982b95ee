"""bench-accuracy's peers: scores reused from an earlier CSV only where scored alike, keyed by
the protocol and each peer's settings and version, and AutoGluon through its own interpreter."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.accuracy.outputs import write_csv
from tests.bench_helpers import output_dir_in_tmp  # noqa: F401 (autouse)


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
