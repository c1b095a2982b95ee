"""Values derived from a module's tensors and kept while those tensors stay as they are: a
linear statistical method's forecast map, the members' stacked train statistics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from torch import nn

Kept = TypeVar("Kept")
# Where a module keeps its values (beside its attributes, never shadowing one).
KEPT = "_kept_while_unchanged"


def while_unchanged(
    module: nn.Module,
    slot: str,
    holders: Callable[[], Sequence[tuple[nn.Module, str]]],
    build: Callable[[], Kept],
) -> Kept:
    """`build()`, kept under `slot` in the module (beside its attributes, never shadowing one)
    and built again only when one of the parameters or buffers `holders()` names ((owner, name)
    pairs) was replaced (a load with assign=True, a buffer moved to another device or dtype) or
    changed in place (a load: its version counter).

    While the value stands, the check reads the owners' own parameter and buffer dicts, never
    `holders()` or a module's attribute lookup: on a served forecast of one window those
    lookups cost as much as the arithmetic. The value is built outside inference mode and
    without gradients; tensors made in inference mode have no version counter, so nothing is
    kept for them. A fused optimizer step changes parameters without their version counter,
    so a module that keeps values is a `KeepsValues`, which drops them whenever it enters
    training or evaluation (as Lightning's validation between training steps does)."""
    kept_values = module.__dict__.setdefault(KEPT, {})
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


class KeepsValues(nn.Module):
    """A module whose `while_unchanged` values are dropped on every `train()` / `eval()`, where
    it has parameters: a fused optimizer (Adam's `fused=True`, the default optim config)
    updates parameters in place without bumping their version counters, so a forecast map kept
    through training steps would forecast validation windows with the parameters of an earlier
    step. They are dropped on every move to another dtype or device too (`.double()`,
    `.to(...)`): such a move keeps each parameter object and swaps its data, which neither
    check in `while_unchanged` sees."""

    def train(self, mode: bool = True) -> KeepsValues:
        # A module without parameters (ets: fitted numbers in buffers, changed only by a fit or
        # a load, which bump their version counters) has nothing an optimizer steps, and keeps
        # its values through training and evaluation: ets rebuilt its map at every validation,
        # 40 ms each on a 384-value window.
        if any(True for _ in self.parameters()):
            self.__dict__.pop(KEPT, None)
        return super().train(mode)

    def _apply(self, fn, recurse: bool = True):  # type: ignore[no-untyped-def]
        self.__dict__.pop(KEPT, None)
        return super()._apply(fn, recurse)
