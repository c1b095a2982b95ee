"""A coverage gate over a model configured without bands, refused with the rest of the config:
before a pipeline's prepare step, not by the register step after the whole fit."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from stockcast.errors import ConfigError
from stockcast.forecasting.intervals import quantile_levels


def refuse_a_coverage_gate_without_bands(cfg: DictConfig) -> None:
    """`gate.max_coverage_gap` judges each band's coverage: a model given no
    `model.interval_levels` and no pair of `model.quantiles` has none, and the gate then refused
    it only once prepare, the fit, evaluate and the refit had run."""
    gap = OmegaConf.select(cfg, "gate.max_coverage_gap", default=None)
    model = cfg.get("model")
    if gap is None or not isinstance(model, DictConfig):
        return
    quantiles = [float(q) for q in model.get("quantiles") or []]
    bands = quantile_levels(quantiles) if quantiles else list(model.get("interval_levels") or [])
    if not bands:
        raise ConfigError(
            f"gate.max_coverage_gap is {float(gap):g}, which judges the model's bands, and the "
            "model gives none (no model.interval_levels, and no pair of model.quantiles): give "
            "it some, or set gate.max_coverage_gap=null."
        )
