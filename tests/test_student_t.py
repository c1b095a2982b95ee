"""The Student-t quantile and tail, Student-t bands growing over the steps as the (seasonal)
naive error, interval scores and the Diebold–Mariano test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stockcast.forecasting.conformal import (
    calibrate_intervals,
    student_t_half_widths,
)
from stockcast.forecasting.intervals import (
    apply_intervals,
    volatility_scale,
)
from stockcast.forecasting.metrics import diebold_mariano, interval_errors
from stockcast.forecasting.student_t import student_t_quantile, student_t_two_sided_p
from stockcast.forecasting.windows import WindowSizes, rolling_origins
from tests.interval_helpers import MIN_RELATIVE_SCALE


def test_interval_scores_by_hand() -> None:
    actual = np.array([[1.0], [5.0], [10.0]])
    lower, upper = np.full((3, 1), 2.0), np.full((3, 1), 8.0)
    scores = interval_errors(actual, lower, upper, 80)  # alpha = 0.2: penalty 2 / 0.2 = 10
    assert scores["coverage"][0] == pytest.approx(1 / 3)
    assert scores["width"][0] == pytest.approx(6.0)
    # 6 + 10 * 1 (below by 1), 6, 6 + 10 * 2 (above by 2)
    assert scores["winkler"][0] == pytest.approx((16 + 6 + 26) / 3)
    # Pinball at tau = 0.1 (lower) and 0.9 (upper): below by 1 costs the lower bound 0.9 and the
    # upper 0.1 x 7; inside, 0.1 x 3 and 0.1 x 3; above by 2, 0.1 x 8 and 0.9 x 2.
    lower_loss = (0.9 * 1 + 0.1 * 3 + 0.1 * 8) / 3
    upper_loss = (0.1 * 7 + 0.1 * 3 + 0.9 * 2) / 3
    assert scores["pinball"][0] == pytest.approx(0.5 * (lower_loss + upper_loss))
    # A target on an edge is inside it and costs no penalty (a band that did not move, whose
    # edges are the price, covers it).
    edges = interval_errors(np.array([[2.0], [8.0]]), lower[:2], upper[:2], 80)
    assert edges["coverage"][0] == 1.0 and edges["winkler"][0] == pytest.approx(6.0)
    flat = interval_errors(np.full((2, 1), 5.0), np.full((2, 1), 5.0), np.full((2, 1), 5.0), 95)
    assert flat["coverage"][0] == 1.0 and flat["winkler"][0] == 0.0


def test_diebold_mariano_matches_a_hand_computed_case() -> None:
    errors_a = np.array([1.0, -2.0, 1.0, 0.5, -1.0, 2.0])
    errors_b = np.array([2.0, -2.0, 3.0, 1.0, -1.5, 2.0])
    d = np.abs(errors_a) - np.abs(errors_b)  # [-1, 0, -2, -0.5, -0.5, 0]
    n = 6
    mean = d.mean()
    gamma0 = ((d - mean) ** 2).sum() / n
    gamma1 = ((d[1:] - mean) * (d[:-1] - mean)).sum() / n
    expected = mean / math.sqrt((gamma0 + 2 * gamma1) / n)
    expected *= math.sqrt((n + 1 - 2 * 2 + 2 * 1 / n) / n)
    statistic, p_value = diebold_mariano(errors_a, errors_b, step=2)
    assert statistic == pytest.approx(expected)
    # Read against Student's t with n - 1 = 5 degrees of freedom (Abramowitz and Stegun 26.7.4).
    angle = math.atan(abs(expected) / math.sqrt(5))
    central = (
        2
        / math.pi
        * (angle + math.sin(angle) * math.cos(angle) * (1 + 2 / 3 * math.cos(angle) ** 2))
    )
    assert p_value == pytest.approx(1 - central)
    assert p_value > math.erfc(abs(expected) / math.sqrt(2)), "wider tails than the normal's"
    assert statistic < 0, "a is more accurate"
    same = diebold_mariano(errors_a, errors_a, step=1)
    assert all(math.isnan(v) for v in same), "no variance: no verdict, not a crash"


def test_diebold_mariano_gives_no_verdict_with_no_more_windows_than_the_step() -> None:
    """Three windows, step 3: the lag-2 autocovariance leaves nothing to estimate a variance
    from (it came out as -5.6e7 of rounding noise, p = 0, on a 48-month series)."""
    errors_a, errors_b = np.array([1.0, 2.0, 0.5]), np.array([2.0, 2.5, 1.0])
    assert all(math.isnan(v) for v in diebold_mariano(errors_a, errors_b, step=3))
    assert all(math.isfinite(v) for v in diebold_mariano(errors_a, errors_b, step=2))


def test_diebold_mariano_keeps_a_verdict_where_the_plain_variance_turns_negative() -> None:
    """Differences that swing with period 8 around a clear mean: their autocovariances at lags
    1-4, weighed alike, sum to a negative variance; the Bartlett weights give a positive one."""
    d = -2.0 + np.tile([1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0], 10)
    errors_a, errors_b = d + 5.0, np.full_like(d, 5.0)
    n, step = len(d), 5
    c = d - d.mean()
    gammas = [c @ c / n] + [2 * (c[lag:] @ c[:-lag]) / n for lag in range(1, step)]
    assert sum(gammas) <= 0
    bartlett = sum((1 - lag / step) * g for lag, g in enumerate(gammas))
    expected = d.mean() / math.sqrt(bartlett / n)
    expected *= math.sqrt((n + 1 - 2 * step + step * (step - 1) / n) / n)
    statistic, p_value = diebold_mariano(errors_a, errors_b, step)
    assert statistic == pytest.approx(expected) and statistic < -3
    assert p_value < 1e-3


def test_the_student_t_growth_over_the_steps_is_the_seasonal_naives_on_seasonal_data() -> None:
    """The naive forecast's error on a monthly series swings with the season, widest half a
    season ahead; the seasonal naive's is the season-ago value's error at every step up to a
    season. Where the window holds no whole season, or the seasonal naive errs more (a random
    walk on business days, whose dates give it a season of 5), the naive one's is taken."""
    from stockcast.forecasting.conformal import baseline_spread_profile

    rng = np.random.default_rng(4)
    values = 100 + 10 * np.sin(2 * np.pi * np.arange(400) / 12) + rng.normal(size=400)
    history = rolling_origins(values, WindowSizes(24, 12))
    naive = baseline_spread_profile(history, 1, MIN_RELATIVE_SCALE)
    seasonal = baseline_spread_profile(history, 12, MIN_RELATIVE_SCALE)
    assert naive is not None and seasonal is not None
    assert naive[5] > 3 * naive[0] and naive[5] > 3 * naive[11]
    assert seasonal.max() < 1.25 * seasonal.min()
    short = rolling_origins(values, WindowSizes(10, 12))
    np.testing.assert_array_equal(
        baseline_spread_profile(short, 12, MIN_RELATIVE_SCALE),
        baseline_spread_profile(short, 1, MIN_RELATIVE_SCALE),
    )
    assert (
        baseline_spread_profile(
            rolling_origins(values[:37], WindowSizes(24, 12)), 12, MIN_RELATIVE_SCALE
        )
        is None
    )
    # Business days give daily prices a season of 5, where the seasonal naive is no baseline.
    walk = rolling_origins(100 + rng.normal(size=400).cumsum(), WindowSizes(10, 5))
    np.testing.assert_array_equal(
        baseline_spread_profile(walk, 5, MIN_RELATIVE_SCALE),
        baseline_spread_profile(walk, 1, MIN_RELATIVE_SCALE),
    )


def test_a_trend_does_not_hand_a_quarterly_band_the_naive_forecasts_zig_zag() -> None:
    """A trending quarterly series: the seasonal naive's errors are biased by a year's trend
    (a larger mean error) but spread evenly; chosen by mean error, the naive one's seasonal
    zig-zag made a 95% band three times wider every other step."""
    from stockcast.forecasting.conformal import baseline_spread_profile

    rng = np.random.default_rng(7)
    steps = np.arange(120)
    season = np.array([5.0, -2.0, -6.0, 3.0])
    values = 50 + 4 * steps + season[steps % 4] + rng.normal(size=120)
    history = rolling_origins(values, WindowSizes(16, 5))
    scale = volatility_scale(history.inputs, MIN_RELATIVE_SCALE)
    naive_errors = history.actual - np.repeat(history.inputs[:, -1:], 5, axis=1)
    seasonal_errors = history.actual - history.inputs[:, [-4, -3, -2, -1, -4]]
    assert np.abs(seasonal_errors / scale).mean() > np.abs(naive_errors / scale).mean()
    profile = baseline_spread_profile(history, 4, MIN_RELATIVE_SCALE)
    assert profile is not None and profile.max() < 2 * profile.min()
    zig_zag = baseline_spread_profile(history, 1, MIN_RELATIVE_SCALE)
    assert zig_zag is not None and zig_zag.max() > 3 * zig_zag.min()


def test_a_seasonal_models_student_t_band_covers_alike_at_every_step() -> None:
    """A monthly series whose model forecasts the season, 36 calibration windows, horizon 12:
    too few for a split-conformal 95% band. Its Student-t band took its growth over the steps
    from the naive forecast's errors on the train split, which follow the season: it covered
    1.00 half a season ahead and 0.95 a whole season ahead. With the seasonal naive's, every
    step covers alike."""
    from stockcast.forecasting.conformal import baseline_spread_profile

    rng = np.random.default_rng(12)
    p, h, season, windows, train = 36, 12, 12, 36, 150
    cut = train + p + h + windows - 1
    total = cut + 300
    pattern = 10 * np.sin(2 * np.pi * np.arange(total) / season)

    def forecast(origins: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        """The last value less its season, plus the season ahead."""
        level = inputs[:, -1] - pattern[origins - 1]
        return level[:, None] + pattern[origins[:, None] + np.arange(h)]

    covered = []
    for _ in range(150):
        values = 100 + 0.3 * rng.normal(size=total).cumsum() + pattern + 2 * rng.normal(size=total)
        history = rolling_origins(values[:train], WindowSizes(p, h))
        calibration = rolling_origins(values[train:cut], WindowSizes(p, h))
        fresh = rolling_origins(values[cut:], WindowSizes(p, h))
        origins = train + p + np.arange(len(calibration))
        bounds = calibrate_intervals(
            calibration.inputs,
            forecast(origins, calibration.inputs),
            calibration.actual,
            [80, 95],
            MIN_RELATIVE_SCALE,
            baseline_spread_profile(history, season, MIN_RELATIVE_SCALE),
        )
        bands = apply_intervals(
            forecast(cut + p + np.arange(len(fresh)), fresh.inputs),
            volatility_scale(fresh.inputs, min_relative_scale=MIN_RELATIVE_SCALE),
            bounds,
        )
        lower, upper = bands["95"]
        covered.append(((fresh.actual >= lower) & (fresh.actual <= upper)).mean(axis=0))
    by_step = np.mean(covered, axis=0)
    assert by_step.min() >= 0.93 and by_step.max() <= 0.98
    assert by_step.max() - by_step.min() < 0.02


# Student's t quantiles from printed tables (four decimals): (probability, degrees of freedom).
T_TABLE = {
    (0.975, 1): 12.7062,
    (0.975, 2): 4.3027,
    (0.975, 3): 3.1824,
    (0.9, 1): 3.0777,
    (0.9, 2): 1.8856,
    (0.95, 5): 2.0150,
    (0.975, 10): 2.2281,
    (0.995, 4): 4.6041,
    (0.9, 38): 1.3042,
}


@pytest.mark.parametrize(("probability", "dof"), list(T_TABLE))
def test_the_t_quantile_is_the_tables_even_at_one_degree_of_freedom(
    probability: float, dof: int
) -> None:
    """Two calibration windows give one degree of freedom, where a normal-based expansion fell
    24% short at 95% (9.71 against 12.71)."""
    assert student_t_quantile(probability, dof) == pytest.approx(
        T_TABLE[probability, dof], abs=5e-5
    )
    assert student_t_quantile(1 - probability, dof) == -student_t_quantile(probability, dof)
    # The median, the one probability that is its own mirror, is 0 (and answered, not mirrored
    # for ever).
    assert student_t_quantile(0.5, dof) == pytest.approx(0.0, abs=1e-12)


def test_the_t_quantile_matches_scipy_to_float_precision() -> None:
    stats = pytest.importorskip("scipy.stats")
    for probability in (0.55, 0.8, 0.9, 0.95, 0.975, 0.995, 0.025):
        for dof in range(1, 60):
            assert student_t_quantile(probability, dof) == pytest.approx(
                stats.t.ppf(probability, dof), rel=1e-12
            )


def test_the_t_quantile_of_many_windows_is_its_expansion_and_as_exact() -> None:
    """Past `EXPANSION_DOF` the quantile is the normal one's expansion, not a sum with a term per
    window (seconds at 400,000): it must meet the bisection where they hand over, and scipy far
    beyond."""
    from stockcast.forecasting.student_t import (
        EXPANSION_DOF,
        _central_t_probability,
        _t_quantile_expansion,
    )

    for dof in (EXPANSION_DOF, 400_000):
        assert student_t_quantile(0.975, dof) == _t_quantile_expansion(0.975, dof)

    for probability in (0.55, 0.9, 0.975, 0.995):
        expanded = student_t_quantile(probability, EXPANSION_DOF)
        # The bisection's own answer at that dof: its central probability matches to 1e-13.
        angle = math.atan(expanded / math.sqrt(EXPANSION_DOF))
        assert _central_t_probability(angle, EXPANSION_DOF) == pytest.approx(
            2 * probability - 1, abs=1e-13
        )
        below = student_t_quantile(probability, EXPANSION_DOF - 1)
        assert below > expanded, "the quantile still falls with the degrees of freedom"
    stats = pytest.importorskip("scipy.stats")
    for dof in (EXPANSION_DOF, 10_000, 400_000):
        for probability in (0.025, 0.9, 0.975, 0.9995):
            assert student_t_quantile(probability, dof) == pytest.approx(
                stats.t.ppf(probability, dof), rel=1e-12
            )


@pytest.mark.parametrize(("probability", "dof"), list(T_TABLE))
def test_the_t_tail_beyond_a_tables_quantile_is_its_probability(
    probability: float, dof: int
) -> None:
    tail = 2 * (1 - probability)
    assert student_t_two_sided_p(T_TABLE[probability, dof], dof) == pytest.approx(tail, rel=1e-3)
    assert student_t_two_sided_p(-T_TABLE[probability, dof], dof) == pytest.approx(tail, rel=1e-3)


def test_the_t_tail_matches_scipy_and_the_normal_past_the_expansion() -> None:
    stats = pytest.importorskip("scipy.stats")
    from stockcast.forecasting.student_t import EXPANSION_DOF

    for dof in (1, 2, 3, 4, 5, 10, 37, 200, EXPANSION_DOF - 1):
        for statistic in (0.0, 0.3, 1.0, 2.0, 3.5, 6.0):
            assert student_t_two_sided_p(statistic, dof) == pytest.approx(
                2 * stats.t.sf(statistic, dof), rel=1e-9, abs=1e-14
            )
    for statistic in (1.0, 2.0, 3.0):
        assert student_t_two_sided_p(statistic, EXPANSION_DOF) == pytest.approx(
            2 * stats.t.sf(statistic, EXPANSION_DOF), rel=0.03
        )
    assert math.isnan(student_t_two_sided_p(float("nan"), 5))
    assert student_t_two_sided_p(float("inf"), 5) == 0.0
    with pytest.raises(ValueError, match="at least 1 degree"):
        student_t_two_sided_p(1.0, 0)


@pytest.mark.parametrize(
    ("probability", "dof", "message"),
    [(1.0, 3, "a probability in"), (0.0, 3, "a probability in"), (0.9, 0, "at least 1 degree")],
)
def test_the_t_quantile_refuses_what_has_none(probability: float, dof: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        student_t_quantile(probability, dof)


def test_a_student_t_bound_is_the_prediction_intervals_to_the_digit() -> None:
    """t(1 - alpha / 2, n - 1) x sqrt(1 + 1 / n) x the errors' root mean square, times the
    profile: five unit errors at 95% give 2.776 x sqrt(1.2) = 3.041, at 80% 1.533 x sqrt(1.2)."""
    errors = np.ones((5, 2))
    profile = np.array([1.0, 2.0])
    np.testing.assert_allclose(
        student_t_half_widths(errors * profile, 95, profile), [3.0414, 6.0828], atol=1e-4
    )
    np.testing.assert_allclose(student_t_half_widths(errors, 80, np.ones(2)), 1.6796, atol=1e-4)


def test_the_t_quantile_expansion_is_exact_where_it_takes_over_from_the_bisection() -> None:
    """At `EXPANSION_DOF` the fourth Cornish-Fisher term is 1e-14 to 1e-12 of the quantile: with it
    right, the expansion meets scipy to a few parts in 1e16 there, as the bisection does below."""
    stats = pytest.importorskip("scipy.stats")
    from stockcast.forecasting.student_t import EXPANSION_DOF

    for probability in (0.55, 0.9, 0.975):
        assert student_t_quantile(probability, EXPANSION_DOF) == pytest.approx(
            stats.t.ppf(probability, EXPANSION_DOF), rel=3e-15, abs=0
        )
