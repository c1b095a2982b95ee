"""What an ensemble's held-back check and refit fit again: the candidates its evaluated weights
kept (pipeline.refit_min_candidate_weight)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from omegaconf import DictConfig

from stockcast.config.schema import validate_config
from stockcast.errors import ConfigError
from stockcast.models.spec import member_names
from stockcast.training.pruning import kept_candidates

VIEWS = ["per_window", "standard", "per_window_level"]
# auto's four candidates, three views each: the MLP on the whole window carries the forecast.
WEIGHTS = [0.002, 0.002, 0.002, 0.5, 0.2, 0.289, 0.001, 0.001, 0.001, 0.0006, 0.0006, 0.0008]


def evaluated_spec(weights: list[float] = WEIGHTS) -> dict:
    candidates = [
        {"kind": "mlp", "window": 10, "network": {}},
        {"kind": "mlp", "window": None, "network": {}},
        {"kind": "theta", "window": None, "network": {"season_length": 12}},
        {"kind": "ets", "window": None, "network": {"season_length": 12}},
    ]
    spec = {
        "kind": "ensemble",
        "previous_time_window": 48,
        "next_time_window": 5,
        "network": {"candidates": candidates},
        "anchor": "last",
        "quantiles": [],
        "scaler": {"kind": VIEWS, "members": [{"kind": view} for view in VIEWS]},
    }
    names = [f"{c['kind']} on {c['window'] or 48} values, {v}" for c in candidates for v in VIEWS]
    spec["combination"] = {
        "method": "inverse_mse",
        "power": 4.0,
        "weights": weights,
        "validation_windows": 30,
        "members": [
            {"name": name, "weight": w, "validation_mse": 1.0 / w**0.25}
            for name, w in zip(names, weights, strict=True)
        ],
    }
    return spec


@pytest.fixture
def auto_cfg(make_cfg: Callable[..., DictConfig]) -> Callable[..., DictConfig]:
    return lambda *overrides: make_cfg("experiment=auto", *overrides, config_name="pipeline")


def test_the_candidates_the_weights_gave_next_to_nothing_are_left_out(auto_cfg) -> None:
    cfg = auto_cfg()
    assert cfg.pipeline.refit_min_candidate_weight == 0.01
    spec = evaluated_spec()
    kept = kept_candidates(cfg, spec)
    assert [(c.kind, c.window) for c in kept.config.model.candidates] == [("mlp", None)]
    # The caller's config is not touched.
    assert len(cfg.model.candidates) == 4
    expected = np.array([0.5, 0.2, 0.289]) / 0.989
    np.testing.assert_allclose(kept.combination["weights"], expected)
    records = kept.combination["members"]
    assert [r["name"] for r in records] == [f"mlp on 48 values, {v}" for v in VIEWS]
    np.testing.assert_allclose([r["weight"] for r in records], expected)
    # Their recorded errors stay as measured (this fixture's weights are validation_mse ** -4,
    # as a single series' are); the renormalised weights are the kept errors' own.
    inverse = np.array([r["validation_mse"] for r in records]) ** -4.0
    np.testing.assert_allclose(inverse / inverse.sum(), expected)
    assert [(c["name"], round(c["weight"], 6)) for c in kept.left_out] == [
        ("mlp on 10 values", 0.006),
        ("theta on 48 values", 0.003),
        ("ets on 48 values", 0.002),
    ]
    assert [c["candidate"] for c in kept.left_out] == [0, 2, 3]
    assert kept.combination["left_out"] == {
        "min_candidate_weight": 0.01,
        "candidates": kept.left_out,
    }
    # The evaluated spec keeps all twelve members.
    assert len(spec["combination"]["weights"]) == 12


def test_the_kept_names_match_the_network_the_kept_config_builds(auto_cfg) -> None:
    """The names of the kept weights are those of the network the kept config describes."""
    spec = evaluated_spec()
    kept = kept_candidates(auto_cfg(), spec)
    candidates = [
        {"kind": c.kind, "window": c.window, "network": {}} for c in kept.config.model.candidates
    ]
    kept_spec = spec | {"network": {"candidates": candidates}}
    assert member_names(kept_spec) == [r["name"] for r in kept.combination["members"]]


@pytest.mark.parametrize(
    ("overrides", "weights", "why"),
    [
        (("pipeline.refit_min_candidate_weight=0",), WEIGHTS, "switched off"),
        (("pipeline.refit_min_candidate_weight=0.0001",), WEIGHTS, "every candidate above it"),
        (("train.init_from=champion",), WEIGHTS, "a warm start needs every candidate's weights"),
        ((), [1 / 12] * 12, "no candidate below 0.01"),
    ],
)
def test_every_candidate_is_kept_where_none_may_go(auto_cfg, overrides, weights, why) -> None:
    cfg = auto_cfg(*overrides)
    spec = evaluated_spec(weights)
    kept = kept_candidates(cfg, spec)
    assert kept.config is cfg, why
    assert kept.combination == spec["combination"] and kept.left_out == []


def test_a_model_of_one_kind_is_refit_whole(make_cfg) -> None:
    cfg = make_cfg("experiment=mlp_w10", config_name="pipeline")
    spec = {"kind": "mlp", "combination": {"weights": [0.999, 0.0005, 0.0005]}}
    kept = kept_candidates(cfg, spec)
    assert kept.config is cfg and kept.left_out == []


@pytest.mark.parametrize("value", ["1", "-0.1"])
def test_the_threshold_is_refused_outside_its_range(auto_cfg, value: str) -> None:
    with pytest.raises(ConfigError, match=r"pipeline.refit_min_candidate_weight .*in \[0, 1\)"):
        validate_config(auto_cfg(f"pipeline.refit_min_candidate_weight={value}"))
