"""A Lightning callback the DDP benchmark adds to `src/train.py` (`+callbacks.fit_timer`): rank 0
writes the fit's wall time and the windows all ranks trained on. Its own module, so that only the
benchmarked processes import Lightning for it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L


class FitTimer(L.Callback):
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.begin = 0.0
        self.windows = 0

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.begin = time.perf_counter()

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, *_: Any
    ) -> None:
        minibatches = batch if isinstance(batch, list) else [batch]
        # Every rank trains on an equal shard: this rank's count times the world size.
        self.windows += sum(len(m) for m in minibatches) * trainer.world_size

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            seconds = time.perf_counter() - self.begin
            self.path.write_text(json.dumps({"fit_s": seconds, "windows": self.windows}))
