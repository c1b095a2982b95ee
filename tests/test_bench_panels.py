"""The panel benchmarks: the NeuralForecast peer scores stockcast's own test windows, and
benchmarks/accuracy/panels.py's arguments, refusals and stopped runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.common import compose_train_cfg
from tests.bench_helpers import (
    output_dir_in_tmp,  # noqa: F401 (autouse)
    unprepared,
)


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
