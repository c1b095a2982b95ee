"""The process settings a fit runs under: torch threads, trainer settings this machine refuses,
and how a fit stopped by a signal or ended by an error ends (its exception, its MLflow run)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from stockcast.config.task import stopped_by_sigterm
from stockcast.errors import ConfigError

# MLflow's run statuses: one a user stopped (Ctrl-C, SIGTERM, SIGHUP: train.resume continues it),
# one that ended in an error.
STOPPED_STATUS = "KILLED"
FAILED_STATUS = "FAILED"


def set_threads(num_threads: int) -> None:
    """Apply the configured intra-op thread count (see `num_threads` in train.yaml)."""
    import torch

    torch.set_num_threads(int(num_threads))


# What Lightning's Trainer raises for arguments it cannot run with, by name (no Lightning import):
# its own refusal, and the plain errors some of its checks raise instead (`trainer.accelerator=tpu`
# without torch_xla: ModuleNotFoundError; device ids on a CPU: TypeError; a max_time mapping that
# is no duration: TypeError). A plain error is the settings' only where Lightning raised it while
# reading them (`LIGHTNING_SETTING_READERS`): from anywhere else it is a fault in the code.
LIGHTNING_REFUSAL = "MisconfigurationException"
TRAINER_REFUSALS = (LIGHTNING_REFUSAL, "ModuleNotFoundError", "TypeError", "ValueError")

# Lightning's modules that read the accelerator, devices, precision and max_time a trainer is given.
LIGHTNING_SETTING_READERS = (
    "lightning.pytorch.trainer.connectors.accelerator_connector",
    "lightning.pytorch.accelerators.",
    "lightning.fabric.accelerators.",
    "lightning.pytorch.callbacks.timer",
)


def is_a_trainer_refusal(err: BaseException) -> bool:
    """Whether `err` is Lightning refusing the trainer settings: its own exception, or a plain one
    raised in Lightning's code (not a callback or value of ours it called) while it read them."""
    name = type(err).__name__
    if name == LIGHTNING_REFUSAL:
        return True
    if name not in TRAINER_REFUSALS:
        return False
    modules = []
    frame = err.__traceback__
    while frame is not None:
        modules.append(str(frame.tb_frame.f_globals.get("__name__", "")))
        frame = frame.tb_next
    raised_in_lightning = bool(modules) and modules[-1].startswith("lightning.")
    return raised_in_lightning and any(
        module.startswith(LIGHTNING_SETTING_READERS) for module in modules
    )


@contextmanager
def trainer_refusals() -> Iterator[None]:
    """Lightning's refusal of trainer settings this machine cannot run (`trainer=gpu` without a
    GPU, an unsupported device count) as one `ConfigError` sentence instead of a traceback. The
    values themselves are the schema's to check; what hardware exists only Lightning knows."""
    from hydra.errors import InstantiationException

    try:
        yield
    except InstantiationException as err:
        cause = err.__cause__
        if cause is None or not is_a_trainer_refusal(cause):
            raise
        raise ConfigError(_cannot_run_here(cause)) from None


# The accelerators a machine may lack, as Lightning's registry names them (`gpu` is its choice
# of MPS, then CUDA), and what a refusal says is missing.
ACCELERATOR_BACKENDS = {"gpu": ("mps", "cuda"), "cuda": ("cuda",), "mps": ("mps",), "tpu": ("tpu",)}
ACCELERATOR_NAMES = {"gpu": "GPU", "cuda": "CUDA GPU", "mps": "MPS GPU", "tpu": "TPU"}
# The accelerators every machine has, and the ones Lightning picks first where present (`auto`:
# a TPU, then MPS, then CUDA, else the CPU).
RUN_ANYWHERE = {"cpu": (), "auto": ("tpu", "mps", "cuda")}


def refuse_a_missing_accelerator(trainer: DictConfig | None) -> None:
    """`trainer=gpu` (or `trainer.accelerator=cuda|mps|tpu`) on a machine without one, more
    devices than it has, or devices its accelerator cannot take (`trainer.devices=[0,1]` on a
    CPU, which takes a count) were refused only when the fit built its trainer: after the data was
    prepared (in a pipeline, after its prepare step; in a replay, on every day). Asked of
    Lightning's own accelerators before a local run's first work; never of a cloud run's config,
    which is built here for a machine elsewhere."""
    accelerator = None if trainer is None else trainer.get("accelerator")
    devices = trainer.get("devices", "auto") if trainer is not None else "auto"
    if accelerator in RUN_ANYWHERE and devices in ("auto", 1):
        return  # one device, or as many as it has, of one every machine has
    if accelerator not in (*ACCELERATOR_BACKENDS, *RUN_ANYWHERE):
        return  # an accelerator object, or a name Lightning refuses as it builds the trainer
    from lightning.pytorch.accelerators import AcceleratorRegistry

    def available(name: str) -> bool:
        return bool(AcceleratorRegistry[name]["accelerator"].is_available())

    if accelerator in RUN_ANYWHERE:
        # Its devices are still the chosen accelerator's to accept (`devices=[0,1]` on a CPU).
        choice = RUN_ANYWHERE[accelerator]
        found = next((name for name in choice if available(name)), "cpu")
    else:
        found = next((name for name in ACCELERATOR_BACKENDS[accelerator] if available(name)), None)
    if found is None:
        here = sorted(
            name for name in AcceleratorRegistry.available_accelerators() if available(name)
        )
        raise ConfigError(
            f"trainer.accelerator is {accelerator!r}, but this machine has no "
            f"{ACCELERATOR_NAMES[accelerator]} (Lightning finds {', '.join(here)}); choose "
            "trainer=cpu here, or train where one is (an Azure ML job on a GPU cluster)."
        )
    if devices == "auto":
        return  # as many as it has
    try:
        AcceleratorRegistry[found]["accelerator"].parse_devices(
            OmegaConf.to_object(devices) if isinstance(devices, ListConfig) else devices
        )
    except Exception as err:
        if not is_a_trainer_refusal(err):
            raise
        raise ConfigError(_cannot_run_here(err)) from None


# The process group backend that runs only on CUDA GPUs (configs/trainer/ddp.yaml: gloo on CPUs).
CUDA_ONLY_BACKEND = "nccl"


def refuse_nccl_without_cuda(trainer: DictConfig | None) -> None:
    """`trainer.strategy.process_group_backend=nccl` on a machine without a CUDA GPU, or with
    `trainer.accelerator=cpu`: torch stopped the fit with its traceback as DDP started, after
    the data was prepared. Asked before a local run's first work, as the accelerator is."""
    strategy = None if trainer is None else trainer.get("strategy")
    if not isinstance(strategy, DictConfig):
        return  # no strategy, or one Lightning names (`ddp` picks the backend itself)
    if strategy.get("process_group_backend") != CUDA_ONLY_BACKEND:
        return
    from lightning.pytorch.accelerators import CUDAAccelerator

    if not CUDAAccelerator.is_available():
        missing = "this machine has no CUDA GPU"
        do = "train where one is (an Azure ML job on a GPU cluster)"
    elif trainer.get("accelerator") == "cpu":
        missing = "trainer.accelerator is 'cpu'"
        do = "set trainer.accelerator=gpu"
    else:
        return
    raise ConfigError(
        f"trainer.strategy.process_group_backend is '{CUDA_ONLY_BACKEND}', which runs only on "
        f"CUDA GPUs, but {missing}; set trainer.strategy.process_group_backend=gloo here, or "
        f"{do}."
    )


# What a launcher that started a fit's processes on several machines sets (Azure ML, torchrun:
# NODE_RANK, RANK, WORLD_SIZE; SLURM: SLURM_NODEID): Lightning starts the processes of one node.
NODE_LAUNCHER_VARIABLES = ("NODE_RANK", "RANK", "WORLD_SIZE", "SLURM_NODEID")


def refuse_nodes_nothing_started(
    trainer: DictConfig | None, environ: Mapping[str, str] | None = None
) -> None:
    """`trainer.num_nodes` above 1 where no launcher started the other machines' processes: the
    fit prepared the data, then waited for them forever, deaf to Ctrl-C. Azure ML's job sets
    the launcher's variables (and the matching `trainer.num_nodes`) on every node it starts."""
    nodes = 1 if trainer is None else trainer.get("num_nodes") or 1
    env = os.environ if environ is None else environ
    if int(nodes) == 1 or any(env.get(name) for name in NODE_LAUNCHER_VARIABLES):
        return
    *others, last = NODE_LAUNCHER_VARIABLES
    raise ConfigError(
        f"trainer.num_nodes is {nodes}, but nothing started the other machines' processes "
        f"(none of {', '.join(others)} or {last} is set), so the fit would wait for them "
        "forever; set trainer.num_nodes=1 here, or run on a cluster (make submit-train "
        f'ARGS="trainer=ddp azureml.job.instance_count={nodes}").'
    )


def _cannot_run_here(cause: BaseException) -> str:
    reason = " ".join(str(cause).split()).rstrip(".")
    return (
        f"the trainer settings cannot run here: {reason}; change the trainer setting it names, "
        "or choose trainer=cpu where this machine lacks the accelerator or devices asked for."
    )


def fit_or_interrupt(trainer: Any, model: Any, **kwargs: Any) -> None:
    """`trainer.fit`, a Ctrl-C during it raised again as the KeyboardInterrupt it was: Lightning
    ends a fit it interrupted with exit status 1 after its own shutdown, which read as any
    failure, with no word of where the run stopped or how it continues (`user_errors_exit`)."""
    try:
        trainer.fit(model, **kwargs)
    except SystemExit as err:
        if err.code == 1 and trainer.interrupted:
            raise KeyboardInterrupt from None
        raise


@contextmanager
def runs_end_as_the_fit(loggers: Iterable[Any]) -> Iterator[None]:
    """The loggers' MLflow runs of a fit stopped by a signal end KILLED and of one that ended in
    an error FAILED: Lightning marks a run FINISHED as its fit ends, before the fallback, the
    test and the export that can still refuse it, and FAILED when a signal stops it."""
    try:
        yield
    except BaseException as err:
        stopped = stopped_by_a_signal(err)
        for logger, run_id in mlflow_runs(loggers):
            logger.experiment.set_terminated(run_id, STOPPED_STATUS if stopped else FAILED_STATUS)
        raise


# Where the Optuna sweeper raises its stop (SIGTERM, SIGHUP) outside a fit: between the fit and
# the export of one of its trials, among other places.
SWEEPER_STOPS = "hydra_plugins.stockcast_optuna_sweeper.stop_signals"


def stopped_by_a_signal(err: BaseException) -> bool:
    """Whether `err` is a stop a signal asked for: Ctrl-C, Lightning's SIGTERM stop (SIGHUP's
    too), or the Optuna sweeper's stop elsewhere in a trial, which ended its run FAILED. Looked
    up, not imported: the sweeper is a Hydra plugin, loaded only by a sweep that uses it."""
    sweeper_stop = getattr(sys.modules.get(SWEEPER_STOPS), "StoppedBySignal", None)
    return (
        isinstance(err, KeyboardInterrupt)
        or stopped_by_sigterm(err)
        or (sweeper_stop is not None and isinstance(err, sweeper_stop))
    )


def mlflow_runs(loggers: Iterable[Any]) -> list[tuple[Any, str]]:
    """Each MLflow logger with the run it made on this rank: a CSV logger has an `experiment`
    too (its file writer) but no run, and another DDP rank's MLflow logger has no run id."""
    return [(logger, logger.run_id) for logger in loggers if getattr(logger, "run_id", None)]
