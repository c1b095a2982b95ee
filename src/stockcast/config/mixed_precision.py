"""Settings that only clash under mixed precision, refused with the rest of the config: before
a pipeline's prepare step, not when the fit is built."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from stockcast.errors import ConfigError

# trainer.precision values Lightning runs in mixed precision ("16" and "bf16" are its older names).
MIXED_PRECISIONS = {"16", "bf16", "16-mixed", "bf16-mixed"}


def refuse_clipping_a_fused_mixed_precision_step(cfg: DictConfig) -> None:
    """Under mixed precision Lightning clips only the gradients of an optimizer that leaves their
    unscaling to it, which a fused one (the default Adam) does inside its own step: refused in
    one sentence, where Lightning raised mid-fit with a traceback."""
    precision = str(OmegaConf.select(cfg, "trainer.precision", default=None) or "32")
    clip = OmegaConf.select(cfg, "trainer.gradient_clip_val", default=None)
    fused = bool(OmegaConf.select(cfg, "optim.optimizer.fused", default=False))
    if precision in MIXED_PRECISIONS and clip and fused:
        raise ConfigError(
            f"trainer.gradient_clip_val cannot clip a fused optimizer's gradients under "
            f"trainer.precision={precision} (it unscales them inside its own step, after they "
            "would be clipped): set optim.optimizer.fused=false, or leave "
            "trainer.gradient_clip_val null."
        )
