"""The precision a fit trains in where Lightning changes the one asked for: on a CPU it runs
16-mixed as bf16-mixed (fp16 autocast is CUDA's), which it said only in a warning on stderr, not
in the run's log."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# Lightning's warning as it swaps the precision (2.6), left to `say_the_precision_used`'s line.
LIGHTNING_CPU_FP16_WARNING = r"You passed `Trainer\(accelerator='cpu', precision='16-mixed'\)`"
# The precisions Lightning reads as fp16 mixed precision: its name and its older one.
FP16_MIXED = ("16-mixed", "16")


@contextmanager
def without_lightning_cpu_fp16_warning() -> Iterator[None]:
    """Around building the trainer: its warning would say again what our log line says."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=LIGHTNING_CPU_FP16_WARNING)
        yield


def say_the_precision_used(asked: object, used: str) -> None:
    """One log line where fp16 mixed precision asked for runs as bf16-mixed: the scores are
    bf16's, which rounds to fewer digits than fp16 does."""
    if str(asked) in FP16_MIXED and used == "bf16-mixed":
        log.warning(
            "trainer.precision=%s runs as bf16-mixed on a CPU, which has no fp16 mixed precision: "
            "ask for +trainer.precision=bf16-mixed there, or train on a CUDA GPU "
            "(trainer=gpu) for fp16.",
            asked,
        )
