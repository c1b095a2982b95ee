"""A coverage gate over a model configured without bands, refused with the rest of the config:
before a pipeline's prepare step, not by the register step after the whole fit."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from stockcast.errors import ConfigError
from stockcast.forecasting.quantiles import quantile_levels


def refuse_a_coverage_gate_without_bands(cfg: DictConfig) -> None:
    """`gate.max_coverage_gap` judges each band's coverage: a model given no
    `model.interval_levels` and no pair of `model.quantiles` has none, and the gate then refused
    it only once prepare, the fit, evaluate and the refit had run. A quantile model's bands are
    its pairs alone: one of the median only has none, whatever `model.interval_levels` says."""
    gap = OmegaConf.select(cfg, "gate.max_coverage_gap", default=None)
    model = cfg.get("model")
    if gap is None or not isinstance(model, DictConfig):
        return
    quantiles = [float(q) for q in model.get("quantiles") or []]
    if quantiles and not quantile_levels(quantiles):
        # model.interval_levels may well be set: a quantile model's bands are its pairs alone.
        raise ConfigError(
            f"gate.max_coverage_gap is {float(gap):g}, which judges the model's bands, and "
            f"model.quantiles {quantiles} gives none (a quantile model's bands "
            "are its pairs q and 1 - q, not model.interval_levels): add a pair such as 0.1 and "
            "0.9, set model.quantiles=[] for bands at model.interval_levels, or set "
            "gate.max_coverage_gap=null."
        )
    if not quantiles and not list(model.get("interval_levels") or []):
        raise ConfigError(
            f"gate.max_coverage_gap is {float(gap):g}, which judges the model's bands, and the "
            "model gives none (no model.interval_levels, and no pair of model.quantiles): give "
            "it some, or set gate.max_coverage_gap=null."
        )
