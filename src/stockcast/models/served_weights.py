"""Values derived from a module's tensors and kept while those tensors stay as they are: a
linear statistical method's forecast map, the members' stacked train statistics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from torch import nn

Kept = TypeVar("Kept")


def while_unchanged(
    module: nn.Module,
    slot: str,
    holders: Callable[[], Sequence[tuple[nn.Module, str]]],
    build: Callable[[], Kept],
) -> Kept:
    """`build()`, kept under `slot` in the module (beside its attributes, never shadowing one)
    and built again only when one of the parameters or buffers `holders()` names ((owner, name)
    pairs) was replaced (a load with assign=True, a move to another device or dtype) or changed
    in place (a load: its version counter).

    While the value stands, the check reads the owners' own parameter and buffer dicts, never
    `holders()` or a module's attribute lookup: on a served forecast of one window those
    lookups cost as much as the arithmetic. The value is built outside inference mode and
    without gradients, so one first built during validation serves the training steps after
    it; tensors made in inference mode have no version counter, so nothing is kept for them."""
    kept_values = module.__dict__.setdefault("_kept_while_unchanged", {})
    cached = kept_values.get(slot)
    if cached is not None and all(
        held[name] is tensor and tensor._version == version
        for held, name, tensor, version in cached[0]
    ):
        return cached[1]
    named = []
    for owner, name in holders():
        held = owner._parameters if name in owner._parameters else owner._buffers
        named.append((held, name, held[name]))
    with torch.inference_mode(False), torch.no_grad():
        value = build()
    if not any(tensor.is_inference() for _, _, tensor in named):
        kept = [(held, name, tensor, tensor._version) for held, name, tensor in named]
        kept_values[slot] = (kept, value)
    return value
