"""The band-unit measurement behind the README's word on over-covering bands."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.accuracy.band_units import band_units, main
from benchmarks.accuracy.forecasters import stockcast_default
from benchmarks.accuracy.protocol import cut

FAST = ["trainer.max_steps=4", "fit.naive_fallback=false"]


def test_band_units_score_the_model_the_benchmark_scores() -> None:
    """The held-out coverage is the benchmark's own for the same fit, each error mean is of a
    window's error over its band unit, and a band at the train errors' 80% quantile covers
    some but not every held-out value of a noisy series."""
    steps = np.arange(160)
    noise = np.random.default_rng(3).normal(0, 1.0, len(steps))
    split = cut(100.0 + 5 * np.sin(2 * np.pi * steps / 12) + noise)
    units = band_units(split, 42, "mlp_w10", FAST)
    scored = stockcast_default("s", split, [*FAST, "seed=42"])[0]
    assert units.held_out_coverage == pytest.approx(scored.coverage["80"])
    for value in (units.train, units.validation, units.held_out):
        assert 0.1 < value < 20
    assert 0.3 < units.train_quantile_coverage < 1.0


def test_band_units_refuse_an_unknown_series_before_any_fit(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--series", "wineind,nope"])
    assert stopped.value.code == 2
    assert "--series names no series ['nope']" in capsys.readouterr().err


def test_band_units_take_spaces_after_commas_as_seeds_do(monkeypatch) -> None:
    """--series "gbm_1, gbm_2" named no series ' gbm_2', where --seeds "42, 1" took the space."""
    import benchmarks.accuracy.band_units as measuring

    loaded = []
    monkeypatch.setattr(measuring, "load_bench_series", lambda names: loaded.append(names) or [])
    assert main(["--series", "gbm_1, gbm_2 ", "--seeds", "42, 1"]) == 0
    assert loaded == [["gbm_1", "gbm_2"]]


def test_band_units_refuse_seeds_that_name_no_seed(capsys) -> None:
    """`--seeds ,` fitted nothing: the header alone, and exit status 0."""
    with pytest.raises(SystemExit) as stopped:
        main(["--seeds", ","])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("error: --seeds ',' names no seed")


def test_band_units_refuse_overrides_before_the_header(monkeypatch, capsys) -> None:
    """An experiment or a value the config refuses came below the table's header."""
    import benchmarks.accuracy.band_units as measuring

    monkeypatch.setattr(measuring, "band_units", lambda *args: pytest.fail("fitted"))
    for argv, said in (
        (["--experiment", "nope"], "band_units: cannot compose the band units' config: "),
        (["trainer.max_steps=abc"], "band_units: trainer.max_steps is 'abc'; it must be"),
    ):
        assert main(["--series", "gbm_1", *argv]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(said)


def test_band_units_stopped_with_ctrl_c_is_one_sentence(monkeypatch, capsys) -> None:
    """Ctrl-C printed a traceback below the rows of the series that finished."""
    import benchmarks.accuracy.band_units as measuring

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(measuring, "band_units", interrupted)
    # A series no optional package reads: the test runs where the peers are not installed too.
    assert main(["--series", "gbm_1"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "band_units: stopped by Ctrl-C; the rows above are of the series it finished."
    )


def test_band_units_refuse_a_series_too_short_for_the_windows_before_any_fit(
    monkeypatch, capsys
) -> None:
    """A series too short for the run's windows was refused at its turn, after the rows of the
    series before it were fitted: it is refused before any fit, as bench-accuracy refuses it."""
    import benchmarks.accuracy.band_units as measuring

    fitted = []

    def fit(split, seed, *args):
        fitted.append(seed)
        return measuring.BandUnits(1.0, 1.0, 1.0, 0.8, 0.8)

    monkeypatch.setattr(measuring, "band_units", fit)
    argv = ["--series", "gbm_1,walk150_1000", "--experiment", "mlp_w10"]
    assert main([*argv, "data.previous_time_window=100"]) == 2
    assert fitted == []
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("band_units: walk150_1000: series 'series' has 150 points")


def test_band_units_refuse_series_that_name_no_series(capsys) -> None:
    """`--series ,` was refused as naming the unknown series []; it is refused as bench-accuracy
    and the panels refuse a flag of commas alone."""
    for text in (",", " , ", ""):
        with pytest.raises(SystemExit) as stopped:
            main(["--series", text])
        assert stopped.value.code == 2
        assert (
            capsys.readouterr()
            .err.splitlines()[-1]
            .endswith(f"error: --series {text!r} names no series; leave it out for wineind,ausbeer")
        )
