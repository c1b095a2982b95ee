"""Shared fixtures: configs composed with Hydra's compose API, every path inside tmp_path.

Most tests run a task in this process (`run_task`: compose, validate, call the task function, as
`stockcast.config.task.hydra_task` does); the subprocess tests (`run_cli`, `Command`) are the ones about
a command line itself: an entry point as a user types it, exit codes, one-line errors, what a
fresh process imports. The slow ones start with the session, in the background (`prestart`).
Trained models and registries that several tests read are built once per session, and stores
that need not be fresh start from a copy of one empty store (`store_template`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from stockcast.config.compose import compose_config as compose
from stockcast.config.compose import local_store_overrides
from stockcast.data.calendar import PINNED_DAY_ENV
from stockcast.data.sources import read_table_series
from stockcast.errors import DataError
from stockcast.paths import PROJECT_ROOT
from stockcast.registry import connection, runs
from stockcast.registry.artifact_root import create_store, register_scheme
from stockcast.registry.lock import sqlite_file
from tests.prewarmed import SERVER_ENV, run_forked

# Markets reveal a new value every business day: tests see them as of one fixed day.
TEST_DAY = "2026-06-30"
AS_OF = f"data.as_of={TEST_DAY}"
# A test that names no data.as_of reads its data as of the same day, here and in every command it
# starts: a synthetic series ending today changed under such a test from one day to the next.
# Tests of the clock itself drop the pin (monkeypatch.delenv).
os.environ[PINNED_DAY_ENV] = TEST_DAY
# A fast, small run: enough windows per split, few epochs.
FAST_OVERRIDES = (
    "data.length=400",
    AS_OF,
    "trainer.max_epochs=2",
    "data.steps_per_batch=2",
    "data.batch_size=32",
)
# The pipeline's fast run (the registered models predict, serve and the pipeline tests read).
# Pipeline tests rerun on one day's data on purpose: the freshness check has its own tests.
PIPELINE_FAST = (
    AS_OF,
    "data.require_new_data=false",
    "data.length=400",
    "trainer.max_epochs=2",
    "data.batch_size=32",
)
# Two epochs make a weak model: any trained model passes this gate.
LENIENT_GATE = ("gate.max_mase=1000", "gate.max_mase_vs_naive=null")
MODEL = "pipeline_stock_predictor"
# The seed of the model in `registered_store` (predict's synthetic input uses seed + 1).
TRAINING_SEED = 1

# In-process plots need no display, as the subprocesses' MPLBACKEND=Agg.
os.environ.setdefault("MPLBACKEND", "Agg")
# Test folders live in memory where the machine has a roomy tmpfs and TMPDIR is not chosen: every
# MLflow store commit waits for the disk (fsync), which doubled test-fast's wall time on a
# virtual disk. Set for the commands the tests start too.
MEMORY_TMP, MEMORY_TMP_MIN_FREE = Path("/dev/shm"), 4 * 2**30
if "TMPDIR" not in os.environ and MEMORY_TMP.is_dir():
    with contextlib.suppress(OSError):
        if shutil.disk_usage(MEMORY_TMP).free >= MEMORY_TMP_MIN_FREE:
            os.environ["TMPDIR"] = str(MEMORY_TMP)
            tempfile.tempdir = None  # read again
# The local config signs with keys/ once `make` has created it: tests (and the commands they
# start) see no keys unless a test passes its own (tests/test_signing.py).
os.environ["STOCKCAST_KEYS_DIR"] = "/dev/null/no-keys"
DEFAULT_TORCH_THREADS = torch.get_num_threads()


def isolated_overrides(tmp: Path) -> list[str]:
    """Send logs and the MLflow store into tmp so tests never touch the project folder."""
    return local_store_overrides(tmp)


def compose_config(config_name: str, overrides: Sequence[str], tmp: Path) -> DictConfig:
    GlobalHydra.instance().clear()
    pinned = [AS_OF] if config_name in ("train", "pipeline") else []
    cfg = compose(config_name, [*isolated_overrides(tmp), *pinned, *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp / "run")
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    def factory(*overrides: str, config_name: str = "train") -> DictConfig:
        return compose_config(config_name, overrides, tmp_path)

    yield factory
    GlobalHydra.instance().clear()


# -- no test leaks global state into the next one -------------------------------------------


def _mlflow_uris() -> tuple[Any, Any] | None:
    if "mlflow" not in sys.modules:
        return None
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    return tracking_utils._tracking_uri, registry_utils._registry_uri


def _restore_mlflow_uris(uris: tuple[Any, Any] | None) -> None:
    if "mlflow" not in sys.modules:
        return
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._tracking_uri, registry_utils._registry_uri = uris or (None, None)


@contextlib.contextmanager
def hydra_held(hydra: Any, **beside: Any) -> Iterator[None]:
    """`hydra` (a `HydraConf` node) held as a running command's Hydra config for the block, with
    `beside` at the top of that config (what its interpolations read): what the code reads
    through `HydraConfig.get()` in a run, without one."""
    from omegaconf import OmegaConf

    HydraConfig.instance().set_config(OmegaConf.create({"hydra": hydra, **beside}))
    try:
        yield
    finally:
        HydraConfig.instance().cfg = None


def hydra_conf(task: Sequence[str] = ()) -> Any:
    """Hydra's own config with default values, `task` its record of the command's overrides."""
    from hydra.conf import HydraConf
    from omegaconf import OmegaConf

    hydra = OmegaConf.structured(HydraConf)
    hydra.overrides.task = list(task)
    return hydra


@contextlib.contextmanager
def global_state_restored() -> Iterator[None]:
    """In-process tasks set torch threads, MLflow URIs (and their environment variables),
    sys.path (MLflow's model code paths) and loggers' levels (a benchmark's main quiets
    `stockcast`): put them back, and refuse a leaked active MLflow run."""
    environ, path, uris, levels = dict(os.environ), list(sys.path), _mlflow_uris(), _levels()
    leaked_run = None
    try:
        yield
    finally:
        if "mlflow" in sys.modules:
            import mlflow

            leaked_run = mlflow.active_run()
            if leaked_run is not None:
                mlflow.end_run()
        _restore_mlflow_uris(uris)
        os.environ.clear()
        os.environ.update(environ)
        sys.path[:] = path
        for name, level in _levels().items():
            # Only those that changed: each setLevel clears every logger's cache.
            if level != levels.get(name, logging.NOTSET):
                logging.getLogger(name or None).setLevel(levels.get(name, logging.NOTSET))
        torch.set_num_threads(DEFAULT_TORCH_THREADS)
        HydraConfig.instance().cfg = None
        GlobalHydra.instance().clear()
    assert leaked_run is None, f"MLflow run {leaked_run.info.run_id} was left active"


def _levels() -> dict[str, int]:
    """Every logger's own level by name ("" for the root)."""
    loggers = logging.root.manager.loggerDict.items()
    found = {name: item.level for name, item in loggers if isinstance(item, logging.Logger)}
    return found | {"": logging.root.level}


@pytest.fixture(autouse=True)
def _no_leaked_global_state() -> Iterator[None]:
    """Each test starts from, and returns to, one global state."""
    with global_state_restored():
        yield


# -- running a task in this process ---------------------------------------------------------


@dataclass
class Ran:
    """What an in-process task returned, and what it printed."""

    value: Any
    stdout: str


class _Tee(io.StringIO):
    """Keeps what is printed, and passes it on (pytest shows it when a test fails)."""

    def __init__(self, target: Any) -> None:
        super().__init__()
        self.target = target

    def write(self, text: str) -> int:
        self.target.write(text)
        return super().write(text)


def run_task(
    task: Callable[[DictConfig], Any],
    config_name: str,
    overrides: Sequence[str],
    output_dir: Path,
) -> Ran:
    """Run an entry point's task as `hydra_task` does, in this process: compose `config_name`
    with `overrides` (Hydra's own config set, so the task sees the overrides it was started
    with), validate it against the schema, call the task with its run dir `output_dir`.

    User errors come out as the StockcastError the command line prints as its one line."""
    from stockcast.config.schema import validate_config

    GlobalHydra.instance().clear()
    cfg = compose(config_name, list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.paths.output_dir = str(output_dir)
    tee = _Tee(sys.stdout)
    try:
        with contextlib.redirect_stdout(tee):
            value = task(validate_config(cfg))
    finally:
        HydraConfig.instance().cfg = None
        GlobalHydra.instance().clear()
    return Ran(value, tee.getvalue())


def new_run_dir(tmp: Path, task_name: str) -> Path:
    """A fresh run directory where Hydra puts one (`logs/<task>/runs/<time>`, in time order)."""
    return tmp / "logs" / task_name / "runs" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")


def azureml_launcher_refusal(
    tmp: Path,
    capsys: pytest.CaptureFixture[str],
    overrides: Sequence[str] = (),
    task_overrides: Sequence[str] | None = None,
) -> str:
    """The last line the Azure ML launcher's setup writes as it refuses a sweep of the train
    config composed with `overrides` (and, given, `task_overrides` as the sweep's command line),
    which must end the sweep with exit status 2."""
    from hydra.utils import instantiate

    cfg = compose(
        "train",
        ["hydra/launcher=azureml", *overrides, *isolated_overrides(tmp)],
        return_hydra_config=True,
    )
    if task_overrides is not None:
        with open_dict(cfg):
            cfg.hydra.overrides.task = list(task_overrides)
    launcher = instantiate(cfg.hydra.launcher)
    with pytest.raises(SystemExit) as exit_info:
        launcher.setup(hydra_context=None, task_function=None, config=cfg)
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def run_local_pipeline(tmp: Path, *overrides: str) -> Ran:
    """`python -m stockcast.orchestration.runner <overrides>` in this process, its store and logs in tmp;
    `value` is the register step's decision, `stdout` what the command prints."""
    from stockcast.orchestration.runner import run_local_pipeline as task

    return run_task(
        task, "pipeline", [*isolated_overrides(tmp), *overrides], new_run_dir(tmp, "pipeline")
    )


def run_train(tmp: Path, run_dir: Path, *overrides: str) -> Ran:
    """`python src/train.py <overrides> hydra.run.dir=<run_dir>` in this process."""
    from stockcast.orchestration.steps.train import run_train_task

    return run_task(run_train_task, "train", [*isolated_overrides(tmp), *overrides], run_dir)


def trained_once(factory: pytest.TempPathFactory, name: str, *overrides: str) -> Path:
    """One `run_train` in a fresh folder of `factory`'s: its run folder, for module-scoped
    fixtures that several tests read."""
    tmp = factory.mktemp(name)
    run_train(tmp, tmp / "run", *overrides)
    return tmp / "run"


# The environment of every project command a test starts (the tests run with warnings on): what
# the prewarmed forkserver starts with.
CLI_ENV = SERVER_ENV
CLI_TIMEOUT_S = 600


@dataclass(frozen=True)
class Command:
    """One subprocess: `python <args>` (or `args` itself when `python` is false), from `cwd`,
    with `env` (default: the test process's environment plus CLI_ENV). A python command is a
    fork of the prewarmed forkserver (tests/prewarmed.py) unless `fresh` asks for a new
    interpreter."""

    args: Sequence[str]
    cwd: Path = PROJECT_ROOT
    env: Mapping[str, str] | None = None
    check: bool = True
    python: bool = True
    fresh: bool = False


def run_command(
    command: Command, base_env: Mapping[str, str], timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run it; with `check`, a non-zero exit fails with the tails of stdout and stderr."""
    argv = [sys.executable, *command.args] if command.python else list(command.args)
    env = dict(command.env) if command.env is not None else {**base_env, **CLI_ENV}
    if command.python and not command.fresh:
        result = run_forked(command.args, command.cwd, env, timeout)
    else:
        result = subprocess.run(
            argv, cwd=command.cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    if command.check and result.returncode != 0:
        raise AssertionError(
            f"{list(command.args)} exited {result.returncode}\nstdout:\n{result.stdout[-3000:]}\n"
            f"stderr:\n{result.stderr[-5000:]}"
        )
    return result


def run_cli(
    args: Sequence[str], tmp: Path, *, check: bool = True, timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run a project command in a subprocess, the way a user types it, isolated in tmp."""
    return run_command(Command(tuple(args), check=check), os.environ, timeout)


# -- command lines started early, in the background -----------------------------------------
#
# A fresh process pays seconds of imports before its work: the command-line tests that take
# longest are started when the session starts, two at a time beside this process, while the
# in-process tests run here; such a test then waits for its commands and checks their results.
# A test names its job with `@prestart(builder)` and receives it as the `prestarted_job` fixture.
# Builders run here, in the main thread (composing configs, copying folders is theirs); only the
# subprocesses run in the background, with the environment the session started with.

PRESTART_WORKERS = 2


@dataclass
class JobContext:
    """What a builder gets: its own fresh folder, the empty store to seed one from, the
    environment to start commands with, and the session's fixtures (`fixture("trained_run")`)."""

    tmp: Path
    store_template: Path
    env: dict[str, str]
    fixture: Callable[[str], Any]

    def seeded(self) -> Path:
        """The job's folder with an empty MLflow store in it (see `seed_store`)."""
        return seed_store(self.store_template, self.tmp)

    def run(self, *commands: Command, **info: Any) -> Job:
        return Job(self.tmp, list(commands), self.env, info)


@dataclass
class Job:
    """A test's commands (run one after the other) and what they returned."""

    tmp: Path
    commands: list[Command]
    env: dict[str, str]
    info: dict[str, Any] = field(default_factory=dict)
    results: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    def execute(self) -> Job:
        for command in self.commands:
            self.results.append(run_command(command, self.env))
        return self

    @property
    def result(self) -> subprocess.CompletedProcess[str]:
        (only,) = self.results
        return only


Builder = Callable[[JobContext], Job]


class Prestarted:
    """The session's background jobs: one per builder, built and started up front."""

    def __init__(self, context: Callable[[Builder], JobContext]) -> None:
        self._context = context
        self._pool = ThreadPoolExecutor(PRESTART_WORKERS, thread_name_prefix="prestart")
        self._futures: dict[Builder, Future[Job]] = {}

    def start(self, builder: Builder) -> None:
        if builder in self._futures:
            return
        try:
            job = builder(self._context(builder))
        except (Exception, pytest.fail.Exception, pytest.skip.Exception) as err:
            # The test that needs the job reports it.
            failed: Future[Job] = Future()
            failed.set_exception(err)
            self._futures[builder] = failed
            return
        self._futures[builder] = self._pool.submit(job.execute)

    def result(self, builder: Builder) -> Job:
        self.start(builder)
        return self._futures[builder].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def prestart(builder: Builder) -> pytest.MarkDecorator:
    """`@prestart(builder)`: the test's job is built and started when the session starts."""
    # with_args: a mark called with a lone function would decorate that function instead.
    return pytest.mark.prestart.with_args(builder)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that wait for a background job run last (in their order): the jobs then run
    while this process runs every other test, instead of while it waits for them. Under
    pytest-xdist, where a worker starts a job when its test comes, they run first instead: the
    longest work is shared out first and the short tests even out the end."""
    in_worker = hasattr(config, "workerinput")
    items.sort(key=lambda item: (item.get_closest_marker("prestart") is None) == in_worker)


def pytest_configure(config: pytest.Config) -> None:
    # The library warnings the entry points silence (stockcast.config.quiet) in the in-process runs too.
    from stockcast.config.quiet import NOISY_WARNINGS

    for category, pattern in NOISY_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{pattern}:{category.__name__}")
    config.addinivalue_line(
        "markers",
        "prestart(builder): the test's command lines start with the session, in the background",
    )


def _will_run(item: pytest.Item) -> bool:
    if item.get_closest_marker("skip") is not None:
        return False
    return not any(
        mark.args and all(isinstance(c, bool) and c for c in mark.args[:1])
        for mark in item.iter_markers("skipif")
    )


@pytest.fixture(scope="session", autouse=True)
def _prestarted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prestarted]:
    """Starts the selected tests' background jobs, in the order the tests will need them.

    Under pytest-xdist every worker collects every test but runs only some: there a job starts
    when its test asks for it, and the workers themselves run side by side."""
    in_worker = hasattr(request.config, "workerinput")
    builders = [
        mark.args[0]
        for item in request.session.items
        if _will_run(item) and not in_worker
        for mark in item.iter_markers("prestart")
    ]
    env = dict(os.environ)

    def context(builder: Builder) -> JobContext:
        template = request.getfixturevalue("store_template")
        tmp = tmp_path_factory.mktemp(builder.__name__)
        return JobContext(tmp, template, env, request.getfixturevalue)

    prestarted = Prestarted(context)
    for builder in builders:
        prestarted.start(builder)
    yield prestarted
    prestarted.close()


@pytest.fixture
def prestarted_job(request: pytest.FixtureRequest, _prestarted: Prestarted) -> Job:
    """The finished job of the test's `prestart` marker (a failed command fails the test)."""
    marker = request.node.get_closest_marker("prestart")
    assert marker is not None, "prestarted_job needs @prestart(builder)"
    return _prestarted.result(marker.args[0])


# -- built once per session -----------------------------------------------------------------


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow store (`mlruns.db`, schema migrated). Creating a store costs seconds of
    migrations; tests whose point is not a fresh store start from a copy (`seed_store`). Those
    about creating one (the register step's first registration, a sweep's fresh store, a refusal
    that must create none) never use it."""
    folder = tmp_path_factory.mktemp("store_template")
    with global_state_restored():
        # As the project creates one: artifact locations beside the database.
        create_store(f"sqlite:///{folder}/mlruns.db")
    return folder / "mlruns.db"


def seed_store(template: Path, folder: Path) -> Path:
    """`folder`, holding a copy of the empty store where `isolated_overrides(folder)` points."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, folder / "mlruns.db")
    return folder


@pytest.fixture
def stores_from_template(monkeypatch: pytest.MonkeyPatch, store_template: Path) -> None:
    """A local store the code under test creates is a copy of `store_template`: the file
    MLflow's migrations would write, without their second (for tests that create many stores
    whose creation is not their point)."""

    def create(tracking_uri: str) -> None:
        database = sqlite_file(tracking_uri)
        if database is None or database.is_file():
            create_store(tracking_uri)
            return
        register_scheme()
        shutil.copyfile(store_template, database)

    monkeypatch.setattr(connection, "create_store", create)
    monkeypatch.setattr(runs, "create_store", create)


@pytest.fixture
def seeded_tmp(tmp_path: Path, store_template: Path) -> Path:
    """tmp_path with an empty MLflow store already in it."""
    return seed_store(store_template, tmp_path)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> Path:
    """One training run (the train task of `src/train.py`) shared by the tests that inspect its
    outputs: prepared/, model/, metrics.json, the MLflow run in <tmp>/mlruns.db."""
    tmp = seed_store(store_template, tmp_path_factory.mktemp("trained"))
    run_dir = tmp / "run"
    with global_state_restored():
        run_train(tmp, run_dir, *FAST_OVERRIDES)
    return run_dir


@pytest.fixture(scope="session")
def registered_store(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> Path:
    """A local store holding version 1 of the model, as champion, from one pipeline run
    (seed 1): predict and serve read it, none of them changes it."""
    store = seed_store(store_template, tmp_path_factory.mktemp("predict_store"))
    with global_state_restored():
        ran = run_local_pipeline(store, *PIPELINE_FAST, f"seed={TRAINING_SEED}", *LENIENT_GATE)
    assert f"registered {MODEL} version 1 as champion" in ran.stdout
    return store


def give_outputs(net: torch.nn.Module, seed: int = 0) -> None:
    """Random output-layer weights, the same on every run (not the global generator's, which
    depends on the tests run before): an anchored network starts with zero outputs (the naive
    forecast), which would hide what a test compares."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.core.weights[-1].normal_(generator=generator)
        net.core.biases[-1].normal_(generator=generator)


@pytest.fixture
def warm_told(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each fit of the test tells its fold evidence, in order: whether weights were loaded
    (a warm start fits no folds: they would score windows its weights saw)."""
    from stockcast.training import fit

    told: list[bool] = []
    real_fold_evidence = fit.fold_evidence

    def fold_evidence(*args: object, **kwargs: object) -> object:
        told.append(bool(kwargs["warm"]))
        return real_fold_evidence(*args, **kwargs)

    monkeypatch.setattr(fit, "fold_evidence", fold_evidence)
    return told


def table_refusal(path: Path, *columns: str, **settings: str) -> str:
    """The one sentence `read_table_series` refuses `path` with (the test fails if it reads)."""
    with pytest.raises(DataError) as refused:
        read_table_series(path, *columns, **settings)
    return str(refused.value)
