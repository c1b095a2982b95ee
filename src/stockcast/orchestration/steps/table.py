"""The step table: one row per pipeline step, executed by the local runner and the Azure ML builder.

A row names the step, its entry function, its ports and the files it writes. A port binds one
Hydra key of the step to a folder. Wiring is derived from port names: an input takes the output
of the same name from the nearest step before it. Both executors loop over this table; adding
a step is one row here and one module.

Imports nothing heavy (NumPy at most): the Azure ML builder and the runner read the table without
loading a step.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stockcast.data.prepared import META_FILE, SCALER_FILE, SERIES_FILE
from stockcast.evaluation.reports import REPORT_FILE, WINDOWS_FILE
from stockcast.training.summary import METRICS_FILE, RESOLVED_CONFIG_FILE

URI_FOLDER = "uri_folder"
MLFLOW_MODEL = "mlflow_model"
PORT_KINDS = (URI_FOLDER, MLFLOW_MODEL)

# What the register and monitor steps write (the other steps' files are named by the modules
# that own them: the prepared folder, the fit's summary, the evaluation report).
DECISION_FILE = "decision.json"
MONITOR_REPORT_FILE = "report.json"
MONITOR_PLOT_FILE = "monitor.png"


@dataclass(frozen=True)
class Port:
    """One folder a step reads or writes, bound to the Hydra key `key`."""

    name: str
    kind: str
    key: str

    def __post_init__(self) -> None:
        if self.kind not in PORT_KINDS:
            raise ValueError(f"port {self.name!r} has kind {self.kind!r}; use one of {PORT_KINDS}")


@dataclass(frozen=True)
class Step:
    """One row: `entry` is `module:function`; the function takes the composed config."""

    name: str
    entry: str
    description: str
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    writes: tuple[str, ...] = ()
    # Heavy libraries its work needs; the in-process runner counts importing them as start-up.
    imports: tuple[str, ...] = ()
    # Reads the outside world (today's data), so an executor must never reuse an old output.
    reads_outside_world: bool = False

    @property
    def module(self) -> str:
        return self.entry.split(":", 1)[0]

    @property
    def function(self) -> Callable[[Any], Any]:
        module, _, name = self.entry.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def ports(self) -> tuple[Port, ...]:
        return (*self.inputs, *self.outputs)

    @property
    def sections(self) -> tuple[str, ...]:
        """The top-level config sections its ports bind: a step added to the table brings its
        own, which the shared schema does not know."""
        return tuple(dict.fromkeys(port.key.partition(".")[0] for port in self.ports))

    def bindings(self, values: Mapping[str, str], config_keys: Container[str]) -> dict[str, str]:
        """Hydra overrides `{key: value}` binding each port named in `values` (port -> value).

        A step whose own section is not among the composed config's top-level `config_keys` (a
        step that brings its own keys) binds them with `+`, which Hydra adds; any other missing
        key stays a typo that composing refuses.
        """
        add = "" if self.name in config_keys else "+"
        return {
            f"{add if port.key.startswith(f'{self.name}.') else ''}{port.key}": values[port.name]
            for port in self.ports
            if port.name in values
        }


# Ports that the runner and replay read after a run, by name.
PREPARED, DECISION, MONITOR = "prepared", "decision", "monitor"

STEPS: tuple[Step, ...] = (
    Step(
        "prepare",
        "stockcast.orchestration.steps.prepare:run_prepare",
        "Load the series, split it chronologically, fit the scaler on train.",
        outputs=(Port(PREPARED, URI_FOLDER, "prepare.output_dir"),),
        writes=(META_FILE, SERIES_FILE, SCALER_FILE),
        imports=("numpy", "pandas"),
        reads_outside_world=True,
    ),
    Step(
        "train",
        "stockcast.orchestration.steps.train:run_train_step",
        "Train the forecaster (model.kind) and save it as an MLflow model folder.",
        inputs=(Port("prepared", URI_FOLDER, "train.prepared_dir"),),
        outputs=(
            Port("model", MLFLOW_MODEL, "train.model_dir"),
            Port("train_output", URI_FOLDER, "train.output_dir"),
        ),
        writes=(METRICS_FILE, RESOLVED_CONFIG_FILE),
        imports=("torch", "lightning", "mlflow"),
    ),
    Step(
        "evaluate",
        "stockcast.orchestration.steps.evaluate:run_evaluate",
        "Score the model against naive baselines and write the gate verdict.",
        inputs=(
            Port("model", MLFLOW_MODEL, "evaluate.model_dir"),
            Port("prepared", URI_FOLDER, "evaluate.prepared_dir"),
        ),
        outputs=(Port("report", URI_FOLDER, "evaluate.output_dir"),),
        writes=(REPORT_FILE, WINDOWS_FILE),
        imports=("mlflow.pyfunc", "matplotlib.pyplot"),
    ),
    Step(
        "refit",
        "stockcast.orchestration.steps.refit:run_refit",
        "Fit the evaluated model again on all its history with the evaluated budget "
        "(pipeline.refit), or pass it on as it is.",
        inputs=(
            Port("model", MLFLOW_MODEL, "refit.model_dir"),
            Port("prepared", URI_FOLDER, "refit.prepared_dir"),
            Port("train_output", URI_FOLDER, "refit.train_output_dir"),
            Port("report", URI_FOLDER, "refit.report_dir"),
        ),
        outputs=(Port("candidate", MLFLOW_MODEL, "refit.output_dir"),),
        imports=("torch", "lightning", "mlflow"),
    ),
    Step(
        "register",
        "stockcast.orchestration.steps.register:run_register",
        "Register the model folder in the MLflow registry if the gate passed.",
        inputs=(
            Port("candidate", MLFLOW_MODEL, "register.model_dir"),
            Port("report", URI_FOLDER, "register.report_dir"),
        ),
        outputs=(Port(DECISION, URI_FOLDER, "register.output_dir"),),
        writes=(DECISION_FILE,),
        imports=("mlflow",),
    ),
    Step(
        "monitor",
        "stockcast.orchestration.steps.monitor:run_monitor",
        "Store the champion's forecast in the ledger, score the matured ones live against "
        "naive, flag (and optionally roll back) a decaying champion.",
        # The decision makes the monitor wait for register (Azure ML orders steps by data only)
        # and tells it which version this run registered.
        inputs=(
            Port("prepared", URI_FOLDER, "monitor.prepared_dir"),
            Port("decision", URI_FOLDER, "monitor.decision_dir"),
        ),
        outputs=(Port(MONITOR, URI_FOLDER, "monitor.output_dir"),),
        writes=(MONITOR_REPORT_FILE, MONITOR_PLOT_FILE),
        imports=("mlflow.pyfunc", "matplotlib.pyplot"),
    ),
)


def step_named(name: str, steps: Sequence[Step] = STEPS) -> Step:
    for step in steps:
        if step.name == name:
            return step
    raise KeyError(f"no step {name!r}; the steps are {[s.name for s in steps]}")


def check_table(steps: Iterable[Step]) -> None:
    """Every input must be produced by an earlier step, and names must be unique."""
    produced: set[str] = set()
    names: set[str] = set()
    for step in steps:
        if step.name in names:
            raise ValueError(f"step {step.name!r} appears twice in the step table")
        names.add(step.name)
        for port in step.inputs:
            if port.name not in produced:
                raise ValueError(
                    f"step {step.name!r} reads {port.name!r}, which no step before it writes"
                )
        produced.update(port.name for port in step.outputs)


def wiring(steps: Sequence[Step] = STEPS) -> dict[str, dict[str, str]]:
    """step -> {input port -> producing step}: the edges both executors draw."""
    check_table(steps)
    producer: dict[str, str] = {}
    edges: dict[str, dict[str, str]] = {}
    for step in steps:
        edges[step.name] = {p.name: producer[p.name] for p in step.inputs}
        producer.update({p.name: step.name for p in step.outputs})
    return edges
