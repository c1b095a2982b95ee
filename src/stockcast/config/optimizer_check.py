"""The optimizer and learning-rate schedule the config describes, built once on a stand-in weight
before a train run, a pipeline or a replay reads any data: an unknown class, an argument it does
not take or a value it refuses was a traceback from inside the fit, after the data was prepared
(in a pipeline, after its prepare step). Not with the schema: the steps that never train would
all import torch for it."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from stockcast.errors import ConfigError


def refuse_an_unbuildable_optimizer(cfg: DictConfig) -> None:
    """Build `optim.optimizer` and `optim.scheduler` as the training module does (a partial
    of each, called with the parameters, then with the optimizer): their own refusal, in one
    sentence naming the key."""
    optim = cfg.get("optim")
    if not isinstance(optim, DictConfig) or optim.get("optimizer") is None:
        return
    import torch

    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = _built(optim.optimizer, "optim.optimizer", params=[weight])
    if optim.get("scheduler") is not None:
        _built(optim.scheduler, "optim.scheduler", optimizer)


def _built(node: DictConfig, key: str, *args: Any, **kwargs: Any) -> Any:
    import hydra
    from hydra.errors import InstantiationException

    try:
        return hydra.utils.instantiate(node)(*args, **kwargs)
    except InstantiationException as err:
        if str(err).startswith("Error locating target"):
            raise ConfigError(
                f"{key}._target_ is {node.get('_target_')!r}, which cannot be imported; name "
                "a class that can (torch.optim.AdamW, torch.optim.lr_scheduler.StepLR)."
            ) from None
        raise ConfigError(_refusal(key, err.__cause__ or err)) from None
    except (TypeError, ValueError) as err:
        raise ConfigError(_refusal(key, err)) from None


def _refusal(key: str, err: BaseException) -> str:
    reason = str(err).strip().splitlines()[0].rstrip(".")
    return (
        f"{key} cannot be built ({reason}); change the setting it names, or remove an argument "
        f"its class does not take with ~{key}.<argument>."
    )
