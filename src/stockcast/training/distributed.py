"""Which process of a distributed (DDP) fit this is, and how windows are shared among the ranks.

Lightning starts the extra processes itself on a laptop (`trainer=ddp`, each one re-runs the
script with `LOCAL_RANK` set) and Azure ML starts all of them on a cluster (`RANK`, `LOCAL_RANK`,
`NODE_RANK`, `WORLD_SIZE`): either way, every process runs the whole train task, so the code
before `fit` must know from the environment whether it may write.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: the launcher imports this module light
    import torch

GLOBAL_RANK_ENV = "RANK"
LOCAL_RANK_ENV = "LOCAL_RANK"
NODE_RANK_ENV = "NODE_RANK"


def is_launch_rank_zero(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is global rank 0 (or not distributed at all), from the variables a
    launcher sets; usable before Lightning has set anything up."""
    env = os.environ if environ is None else environ
    if env.get(GLOBAL_RANK_ENV):
        return int(env[GLOBAL_RANK_ENV]) == 0
    return int(env.get(LOCAL_RANK_ENV) or 0) == 0 and int(env.get(NODE_RANK_ENV) or 0) == 0


def configured_world_size(trainer: Mapping[str, Any]) -> int:
    """Processes the trainer config asks for (`devices` x `num_nodes`); 1 when `devices` leaves
    the count to Lightning ('auto', -1), which then means one process on a CPU."""
    devices = trainer.get("devices", 1)
    if isinstance(devices, int):
        count = max(devices, 1)
    elif isinstance(devices, str) or devices is None:
        count = int(devices) if str(devices).isdigit() else 1
    else:  # a list of device ids
        count = len(devices)
    return count * int(trainer.get("num_nodes") or 1)


def uses_ddp(trainer: Mapping[str, Any]) -> bool:
    """Whether the trainer config asks for Lightning's DDP (`trainer=ddp`, or strategy `ddp*`)."""
    strategy = trainer.get("strategy")
    if isinstance(strategy, str):
        return strategy.startswith("ddp")
    if isinstance(strategy, Mapping):
        return str(strategy.get("_target_", "")).endswith("DDPStrategy")
    return False


def shard_indices(
    indices: torch.Tensor, rank: int, world_size: int, *, equal: bool
) -> torch.Tensor:
    """This rank's contiguous block of `indices`: the blocks are disjoint and, in rank order, are
    `indices` again. With `equal`, the last `len % world_size` indices are dropped so every rank
    gets the same count (DDP needs the same number of optimizer steps on every rank); without,
    the blocks cover every index and differ in size by at most one (evaluation)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside a world of {world_size}")
    if equal:
        indices = indices[: len(indices) // world_size * world_size]
    import torch

    return torch.tensor_split(indices, world_size)[rank]


def gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """Every rank's `rows` (any count, same trailing shape), concatenated in rank order on every
    rank; the tensor itself when not distributed. Evaluation metrics then see all windows."""
    import torch

    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return rows
    world_size = torch.distributed.get_world_size()
    count = torch.tensor([len(rows)], device=rows.device)
    counts = [torch.zeros_like(count) for _ in range(world_size)]
    torch.distributed.all_gather(counts, count)
    most = int(max(int(c) for c in counts))
    padded = torch.zeros((most, *rows.shape[1:]), dtype=rows.dtype, device=rows.device)
    padded[: len(rows)] = rows
    gathered = [torch.empty_like(padded) for _ in range(world_size)]
    torch.distributed.all_gather(gathered, padded)
    return torch.cat([block[: int(c)] for block, c in zip(gathered, counts, strict=True)])


def checkpoint_on_every_rank(strategy: Any, path: str | None) -> str | None:
    """`path`, readable by this rank: on a multi-machine fit the best checkpoint exists only on
    rank 0's disk, so ranks that cannot read it get its bytes from rank 0 (a private temporary
    copy, removed at exit) and every rank can then validate and test the same weights."""
    if not path or getattr(strategy, "world_size", 1) == 1:
        return path
    missing = not Path(path).is_file()
    if not strategy.reduce_boolean_decision(missing, all=False):
        return path
    payload = strategy.broadcast(Path(path).read_bytes() if strategy.is_global_zero else None)
    if not missing:
        return path
    folder = Path(tempfile.mkdtemp(prefix="stockcast-checkpoint-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    copy = folder / Path(path).name
    copy.write_bytes(payload)
    return str(copy)
