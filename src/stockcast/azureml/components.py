"""One Azure ML `command` component per pipeline step, running that step's local entry point."""

from __future__ import annotations

from azure.ai.ml import Input, Output
from azure.ai.ml.entities import CommandComponent

from stockcast.azureml.command_line import build_command, step_entry
from stockcast.azureml.data_source import DataBinding
from stockcast.azureml.environments import step_environment
from stockcast.azureml.settings import SubmitConfig
from stockcast.azureml.steps import STEP_SPECS, STEPS, StepSpec
from stockcast.azureml.validation import ensure_valid

COMPONENT_PREFIX = "stockcast_"
DESCRIPTIONS = {
    "prepare": "Load the series, split it chronologically, fit the scaler on train.",
    "train": "Train the MLP forecaster and save it as an MLflow model folder.",
    "evaluate": "Score the model against naive baselines and write the gate verdict.",
    "register": "Register the model folder in the workspace's MLflow registry if the gate passed.",
}
# Prepare reads the outside world (today's seed or the current CSV), so never reuse its output.
READS_OUTSIDE_WORLD = {"prepare"}


def _ports(sc: SubmitConfig, spec: StepSpec, data: DataBinding | None) -> dict[str, Input]:
    types = {**spec.inputs, **(data.inputs if data else {})}
    model_name = sc.cfg.registry.model_name
    return {
        name: Input(type=kind, default=model_name) if kind == "string" else Input(type=kind)
        for name, kind in types.items()
    }


def build_component(sc: SubmitConfig, step: str, data: DataBinding) -> CommandComponent:
    """The component for one step: its command line, typed ports, environment and code snapshot."""
    spec = STEP_SPECS[step]
    step_data = data if step in READS_OUTSIDE_WORLD else None
    component = CommandComponent(
        name=f"{COMPONENT_PREFIX}{step}",
        display_name=step,
        description=DESCRIPTIONS[step],
        command=build_command(step_entry(spec.module), sc, step, step_data, spec.bindings),
        code=str(sc.root / sc.azure.code),
        environment=step_environment(sc.azure.environments, step, sc.root),
        inputs=_ports(sc, spec, step_data),
        outputs={name: Output(type=kind) for name, kind in spec.outputs.items()},
        is_deterministic=step not in READS_OUTSIDE_WORLD,
    )
    return ensure_valid(component, f"The {step} component")


def build_components(sc: SubmitConfig, data: DataBinding) -> dict[str, CommandComponent]:
    """All four components, in pipeline order."""
    return {step: build_component(sc, step, data) for step in STEPS}
