"""DDP: rank-aware window shards, and a two-process CPU fit where only rank 0 writes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from stockcast.config.compose import plain
from stockcast.data.prepared import PreparedData, prepare_data
from stockcast.errors import ConfigError
from stockcast.training.datamodule import WindowDataModule
from stockcast.training.distributed import (
    configured_world_size,
    is_launch_rank_zero,
    shard_indices,
    uses_ddp,
)
from stockcast.training.windows import WindowBatches
from tests.conftest import CLI_ENV, Command, Job, JobContext, isolated_overrides, prestart

# 57 validation windows: two ranks get 29 and 28, so a mean of the ranks' MASE is not the MASE.
SPLIT_NAMES = ("train", "val", "test")
DDP_RUN = (
    "trainer=ddp",
    "trainer.devices=2",
    "data.length=405",
    "trainer.max_epochs=2",
    "data.batch_size=32",
)


def _first_values(batches: WindowBatches) -> list[list[int]]:
    """One pass: the first value of each window (= its start, for values 0..n), per minibatch."""
    passes = []
    for item in batches:
        for minibatch in item if isinstance(item, list) else [item]:
            passes.append(minibatch[:, 0].long().tolist())
    return passes


def _batches(world_size: int, rank: int, *, train: bool, n: int = 101) -> WindowBatches:
    values = torch.arange(n + 20, dtype=torch.float32)
    return WindowBatches(
        values,
        np.arange(n),
        11,
        8,
        steps_per_batch=3 if train else 1,
        shuffle=train,
        seed=7,
        rank=rank,
        world_size=world_size,
        equal_shards=train,
    )


def test_training_shards_are_disjoint_equal_and_share_one_shuffle_per_epoch() -> None:
    n, world = 101, 3
    single = _batches(1, 0, train=True, n=n)
    ranks = [_batches(world, rank, train=True, n=n) for rank in range(world)]
    for _ in range(2):  # two epochs: each reshuffles, every rank with the same seed
        order = [start for minibatch in _first_values(single) for start in minibatch]
        per_rank = [_first_values(batches) for batches in ranks]
        counts = [len(minibatches) for minibatches in per_rank]
        assert len(set(counts)) == 1, f"optimizer steps per rank differ: {counts}"
        assert len({len(batches) for batches in ranks}) == 1
        assert [len(mb) for mb in per_rank[0]] == [len(mb) for mb in per_rank[-1]]
        flat = [[s for mb in minibatches for s in mb] for minibatches in per_rank]
        assert all(len(starts) == n // world for starts in flat)
        joined = [start for starts in flat for start in starts]
        assert joined == order[: n // world * world], "rank blocks of the same permutation"
        assert len(set(joined)) == n - n % world, "disjoint"
    assert ranks[0]._passes == single._passes == 2


def test_evaluation_shards_cover_every_window_once_in_order() -> None:
    n, world = 57, 2
    shards = [
        [s for mb in _first_values(_batches(world, r, train=False, n=n)) for s in mb]
        for r in range(world)
    ]
    assert [len(shard) for shard in shards] == [29, 28]
    assert shards[0] + shards[1] == list(range(n))


def test_single_process_order_is_the_seeded_permutation() -> None:
    """World size 1 keeps the pre-DDP contract: pass p is randperm(n, seed + p), batch by batch."""
    n, seed, batch = 50, 7, 8
    values = torch.arange(n + 20, dtype=torch.float32)
    starts = np.arange(n)
    batches = WindowBatches(values, starts, 11, batch, shuffle=True, seed=seed)
    for epoch in range(2):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
        expected = [order[i : i + batch].tolist() for i in range(0, n, batch)]
        assert _first_values(batches) == expected


def test_shard_indices_refuses_a_rank_outside_the_world() -> None:
    with pytest.raises(ValueError, match="rank 2 is outside a world of 2"):
        shard_indices(torch.arange(10), 2, 2, equal=True)


def test_rank_and_world_size_from_the_environment_and_the_trainer_config() -> None:
    assert is_launch_rank_zero({})
    assert is_launch_rank_zero({"LOCAL_RANK": "0", "NODE_RANK": "0"})
    assert not is_launch_rank_zero({"LOCAL_RANK": "1"}), "a Lightning-launched rank"
    assert not is_launch_rank_zero({"LOCAL_RANK": "0", "NODE_RANK": "1"}), "second machine"
    assert not is_launch_rank_zero({"RANK": "3", "LOCAL_RANK": "0"}), "Azure ML sets RANK"
    assert configured_world_size({"devices": 2, "num_nodes": 4}) == 8
    assert configured_world_size({"devices": [0, 1]}) == 2
    assert configured_world_size({"devices": "auto"}) == 1
    assert uses_ddp({"strategy": {"_target_": "lightning.pytorch.strategies.DDPStrategy"}})
    assert uses_ddp({"strategy": "ddp_spawn"}) and not uses_ddp({"strategy": "auto"})
    assert not uses_ddp({})


def test_more_ranks_than_training_windows_is_refused(make_cfg) -> None:
    cfg = make_cfg("data.length=100")
    prepared = prepare_data(plain(cfg.data))
    windows = prepared.meta["n_windows"]["train"]
    datamodule = WindowDataModule(
        prepared, batch_size=4, steps_per_batch=1, eval_batch_size=4096, seed=0
    )
    datamodule.trainer = SimpleNamespace(global_rank=0, world_size=windows + 1)
    with pytest.raises(ConfigError, match=f"{windows + 1} training processes share {windows}"):
        datamodule.setup("fit")


@pytest.mark.parametrize(
    ("split", "fractions"), [("val", (0.7, 0.1, 0.2)), ("test", (0.7, 0.2, 0.1))]
)
def test_more_ranks_than_evaluation_windows_is_refused(
    make_cfg, split: str, fractions: tuple[float, float, float]
) -> None:
    """Each rank evaluates its own shard of the windows; a rank with none fails in Lightning."""
    shares = (
        f"data.split.{name}={share}" for name, share in zip(SPLIT_NAMES, fractions, strict=True)
    )
    prepared = prepare_data(plain(make_cfg("data.length=400", *shares).data))
    counts = prepared.meta["n_windows"]
    windows = counts[split]
    datamodule = WindowDataModule(
        prepared, batch_size=4, steps_per_batch=1, eval_batch_size=4096, seed=0
    )
    # Enough windows of the other splits for every rank, too few of `split`'s.
    assert min(n for name, n in counts.items() if name != split) > windows + 1
    datamodule.trainer = SimpleNamespace(global_rank=0, world_size=windows + 1)
    with pytest.raises(
        ConfigError, match=f"{windows + 1} training processes share {windows} {split}"
    ):
        datamodule.setup("fit")


def test_ddp_config_composes_and_validates(make_cfg) -> None:
    from stockcast.config.schema import validate_config

    cfg = validate_config(make_cfg("trainer=ddp", "trainer.num_nodes=2"))
    assert cfg.trainer.strategy.process_group_backend == "gloo"
    assert configured_world_size(cfg.trainer) == 4
    with pytest.raises(ConfigError, match=r"trainer\.num_nodes is 0; it must be a whole number"):
        validate_config(make_cfg("trainer=ddp", "trainer.num_nodes=0"))


def test_a_refit_of_a_ddp_fit_runs_here_with_every_ranks_batch(make_cfg) -> None:
    """The refit, its held-back check and the folds fit inside a pipeline step: DDP's launch
    would run the whole step again as rank 1 (two refits writing one folder). They fit in this
    process, each optimizer step taking both ranks' batches, as the evaluated fit's step did."""
    from stockcast.training.fixed_steps import one_process_trainer, refit_network

    data = ("data.length=300", "trainer.max_epochs=2")
    ddp = make_cfg(*DDP_RUN[:2], *data)
    single, processes = one_process_trainer(ddp.trainer)
    assert processes == 2
    assert (single.devices, single.num_nodes, single.strategy) == (1, 1, "auto")
    cpu = make_cfg("trainer=cpu", *data)
    assert one_process_trainer(cpu.trainer) == (cpu.trainer, 1)
    prepared = prepare_data(plain(cpu.data))
    refit_of_ddp = refit_network(ddp, prepared, optimizer_steps=6, batch_size=16).net
    one_process = refit_network(cpu, prepared, optimizer_steps=6, batch_size=32).net
    refit_state, one_state = refit_of_ddp.state_dict(), one_process.state_dict()
    assert refit_state.keys() == one_state.keys()
    assert all(torch.equal(refit_state[key], one_state[key]) for key in refit_state)


def test_the_ranks_a_fit_starts_past_midnight_read_rank_zeros_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lightning starts the other ranks during the fit by running the command again, each
    composing its config anew: a fit started just before midnight UTC had rank 1 read the next
    day's data (more values, other windows and scaling than rank 0's) under a default
    data.as_of. The ranks it starts read rank 0's day; the clock's day is the default again
    after the fit."""
    from stockcast.config.compose import compose_config
    from stockcast.data import calendar
    from stockcast.training import training_run

    class Launched(Exception):
        pass

    def rank_day() -> str:
        return compose_config("train", [*isolated_overrides(tmp_path), *DDP_RUN]).data.as_of

    def fit(*args: object) -> None:
        monkeypatch.setattr(calendar, "today_utc", lambda: "2026-07-01")  # midnight passes
        raise Launched(rank_day())

    monkeypatch.delenv(calendar.PINNED_DAY_ENV, raising=False)
    monkeypatch.setattr(calendar, "today_utc", lambda: "2026-06-30")
    monkeypatch.setattr(training_run, "fit", fit)
    prepared = SimpleNamespace(meta={"source": {"as_of": "2026-06-30"}})
    cfg = compose_config("train", [*isolated_overrides(tmp_path), *DDP_RUN])
    with pytest.raises(Launched) as launched:
        training_run.run_training(cfg, prepared, tmp_path, tmp_path / "model")
    assert str(launched.value) == "2026-06-30"
    assert rank_day() == "2026-07-01"


# -- a real two-process fit ------------------------------------------------------------------


def two_process_fit(ctx: JobContext) -> Job:
    tmp = ctx.seeded()
    private_tmp = tmp / "tmpdir"
    private_tmp.mkdir()
    env = {**ctx.env, **CLI_ENV, "OMP_NUM_THREADS": "1", "TMPDIR": str(private_tmp)}
    run_dir = tmp / "run"
    args = ("src/train.py", *DDP_RUN, *isolated_overrides(tmp), f"hydra.run.dir={run_dir}")
    return ctx.run(Command(args, env=env), run_dir=run_dir, private_tmp=private_tmp)


@pytest.mark.slow
@prestart(two_process_fit)
def test_two_process_cpu_fit_writes_once_with_global_metrics(prestarted_job: Job) -> None:
    from mlflow import MlflowClient

    from stockcast.forecasting.metrics import pooled_errors
    from stockcast.serving.model import open_model_dir

    run_dir, private_tmp = prestarted_job.info["run_dir"], prestarted_job.info["private_tmp"]
    log = (run_dir / "train.log").read_text()
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log, "two processes trained"
    assert "distributed_backend=gloo" in prestarted_job.result.stderr + log

    # Rank 0 alone wrote: one model, one metrics.json, one MLflow run; rank 1's prepared copy
    # lived in its own temporary folder, gone at exit; no per-rank Hydra files.
    written = {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()}
    assert {"metrics.json", "config_resolved.yaml", "model/MLmodel", "prepared/meta.json"} <= (
        written
    )
    assert not [name for name in written if "ddp_process" in name]
    assert not list(private_tmp.iterdir()), "rank 1 left temporary files"
    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir.parent}/mlruns.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["training_run_id"] == runs[0].info.run_id

    # val MASE is the pooled one over all 57 windows, not the mean of the two ranks' values.
    prepared = PreparedData.load(run_dir / "prepared")
    val, window = prepared.splits["val"], prepared.window
    windows = val.origins(window)
    assert len(windows) == 57
    model = open_model_dir(run_dir / "model")
    forecast = model.frame(windows.inputs.astype(np.float32))
    columns = [f"forecast_{step + 1}" for step in range(window.next_time_window)]
    point = forecast[columns].to_numpy(dtype=np.float64)
    pooled = pooled_errors(point, windows.actual, prepared.mase_scale)["mase"]
    halves = [slice(0, 29), slice(29, 57)]
    rank_mean = np.mean(
        [pooled_errors(point[h], windows.actual[h], prepared.mase_scale)["mase"] for h in halves]
    )
    assert summary["val"]["mase"] == pytest.approx(pooled, rel=1e-5)
    assert abs(rank_mean - pooled) > 1e-4 * pooled, "the check could not tell the two apart"
    assert os.environ.get("LOCAL_RANK") is None, "the test process itself stays out of DDP"
    assert summary["model_dir"] == "model"
