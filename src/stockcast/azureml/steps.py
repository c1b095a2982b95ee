"""The four pipeline steps as Azure ML sees them: typed ports and `${{...}}` folder bindings.

Derived from the step list both executors share (`stockcast.steps.spec`), so a port added there
reaches the local runner and the Azure ML components alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stockcast.steps.spec import MLFLOW_MODEL, STRING, URI_FOLDER
from stockcast.steps.spec import STEP_SPECS as SHARED_STEPS

__all__ = ["MLFLOW_MODEL", "STEPS", "STEP_SPECS", "STRING", "URI_FOLDER", "StepSpec"]


@dataclass(frozen=True)
class StepSpec:
    """One step: its module, its typed ports, and the override that binds each port to a key."""

    name: str
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return f"stockcast.steps.{self.name}"


STEP_SPECS: dict[str, StepSpec] = {
    step.name: StepSpec(
        name=step.name,
        inputs={port.name: port.kind for port in step.inputs},
        outputs={port.name: port.kind for port in step.outputs},
        bindings={
            **{port.key: f"${{{{inputs.{port.name}}}}}" for port in step.inputs},
            **{port.key: f"${{{{outputs.{port.name}}}}}" for port in step.outputs},
        },
    )
    for step in SHARED_STEPS
}
STEPS: tuple[str, ...] = tuple(STEP_SPECS)
