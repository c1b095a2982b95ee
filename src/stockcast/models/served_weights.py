"""The forecast map of a linear statistical method, kept while its parameters stay as they are."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


def weights_while_unchanged(
    module: nn.Module, parameters: Sequence[torch.Tensor], build: Callable[[], torch.Tensor]
) -> torch.Tensor:
    """`build()`, built again only when one of `parameters` has changed in place (their version
    counters): a served method then forecasts with one matrix product per member."""
    if any(param.is_inference() for param in parameters):
        # Made in inference mode: no version counter to tell a change by, so no cache.
        with torch.no_grad():
            return build()
    version = tuple(param._version for param in parameters)
    cached = getattr(module, "_served", None)
    if cached is None or cached[0] != version:
        with torch.no_grad():
            cached = (version, build())
        module._served = cached
    return cached[1]
