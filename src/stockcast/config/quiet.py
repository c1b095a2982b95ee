"""Library noise that tells a stockcast user nothing, silenced by its exact text.

Each entry matches one known message, so every other warning or log line (a real problem) still
shows. Entry points call `silence_library_noise()` once the logging config is in place.
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from typing import Any

NOISY_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    # MLflow nudges towards type hints on predict() (the model declares a tensor signature
    # instead), with raw terminal colour codes in the text.
    (UserWarning, r"(\x1b\[\d+m)?Add type hints to the `predict` method"),
    # Lightning's own use of a torch class that torch deprecated; nothing a user can change.
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
    # A fitted kind (ets) runs no optimizer on purpose (its numbers are fitted, not
    # trained): Lightning said so at every fit, the fold fits and a refit's included.
    (UserWarning, r"`LightningModule.configure_optimizers` returned `None`"),
)
NOISY_LOG_LINES: dict[str, tuple[str, ...]] = {
    "lightning.pytorch.utilities.rank_zero": (
        "💡 Tip:",  # an advert for another logger
        "Restoring states from the checkpoint path",  # once for validate, once for test
        "Loaded model weights from the checkpoint",
    ),
    "mlflow.pyfunc": ("Validating input example against model signature",),
}


class DropLines(logging.Filter):
    """Drops the records whose message starts with one of `prefixes`."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def is_noise(message: Warning | str, category: type[Warning]) -> bool:
    return any(
        issubclass(category, noisy) and re.match(pattern, str(message))
        for noisy, pattern in NOISY_WARNINGS
    )


def _quiet_showwarning(show: Any) -> Any:
    """`warnings.showwarning` minus the noise: MLflow raises its type-hint nudge under its own
    `simplefilter("once")`, which outranks any filter set here."""

    @functools.wraps(show)
    def showwarning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if not is_noise(message, category):
            show(message, category, *args, **kwargs)

    showwarning.quiet = True  # type: ignore[attr-defined]
    return showwarning


def silence_library_noise() -> None:
    """Install the filters (idempotent)."""
    for category, pattern in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    if not getattr(warnings.showwarning, "quiet", False):
        warnings.showwarning = _quiet_showwarning(warnings.showwarning)
    for name, prefixes in NOISY_LOG_LINES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropLines) for f in logger.filters):
            logger.addFilter(DropLines(prefixes))
