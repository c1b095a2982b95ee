"""The step list both executors share: each step's module and its folder ports.

A port binds one Hydra key of the step to a folder (or value). The local runner binds ports to
folders under one pipeline run directory; the Azure ML builder binds the same keys to
`${{inputs.*}}` / `${{outputs.*}}`. An input takes the output of the same name from a step before;
string inputs are pipeline parameters (locally they come from the config itself).
"""

from __future__ import annotations

from dataclasses import dataclass

URI_FOLDER = "uri_folder"
MLFLOW_MODEL = "mlflow_model"
STRING = "string"


@dataclass(frozen=True)
class Port:
    name: str
    kind: str
    key: str


@dataclass(frozen=True)
class StepSpec:
    name: str
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()

    @property
    def module(self) -> str:
        return f"stockcast.steps.{self.name}"


STEP_SPECS: tuple[StepSpec, ...] = (
    StepSpec("prepare", outputs=(Port("prepared", URI_FOLDER, "prepare.output_dir"),)),
    StepSpec(
        "train",
        inputs=(Port("prepared", URI_FOLDER, "train.prepared_dir"),),
        outputs=(
            Port("model", MLFLOW_MODEL, "train.model_dir"),
            Port("train_output", URI_FOLDER, "train.output_dir"),
        ),
    ),
    StepSpec(
        "evaluate",
        inputs=(
            Port("model", MLFLOW_MODEL, "evaluate.model_dir"),
            Port("prepared", URI_FOLDER, "evaluate.prepared_dir"),
            Port("model_name", STRING, "registry.model_name"),
        ),
        outputs=(Port("report", URI_FOLDER, "evaluate.output_dir"),),
    ),
    StepSpec(
        "register",
        inputs=(
            Port("model", MLFLOW_MODEL, "register.model_dir"),
            Port("report", URI_FOLDER, "register.report_dir"),
            Port("model_name", STRING, "registry.model_name"),
        ),
    ),
)
STEP_NAMES: tuple[str, ...] = tuple(step.name for step in STEP_SPECS)
