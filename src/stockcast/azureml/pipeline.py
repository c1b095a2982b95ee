"""The prepare → train → evaluate → register pipeline as an Azure ML `@pipeline`."""

# No `from __future__ import annotations` here: the dsl reads the pipeline function's annotations
# as real types to declare the pipeline's inputs.
from azure.ai.ml import Input, dsl
from azure.ai.ml.entities import CommandComponent, PipelineJob

from stockcast.azureml.components import build_components
from stockcast.azureml.compute import step_compute
from stockcast.azureml.data_source import RAW_DATA_INPUT, DataBinding, data_binding
from stockcast.azureml.preflight import all_step_bindings, check_cloud_overrides
from stockcast.azureml.settings import SubmitConfig
from stockcast.azureml.validation import ensure_valid

PIPELINE_NAME = "stockcast_pipeline"


def _wire(components: dict[str, CommandComponent], model_name: str, raw_data: Input | None) -> dict:
    """Connect the steps' folders; prepare only takes `raw_data` when the data is a CSV asset."""
    prepare_inputs = {RAW_DATA_INPUT: raw_data} if raw_data is not None else {}
    prepare = components["prepare"](**prepare_inputs)
    prepare.name = "prepare"
    train = components["train"](prepared=prepare.outputs.prepared)
    train.name = "train"
    evaluate = components["evaluate"](
        model=train.outputs.model, prepared=prepare.outputs.prepared, model_name=model_name
    )
    evaluate.name = "evaluate"
    register = components["register"](
        model=train.outputs.model, report=evaluate.outputs.report, model_name=model_name
    )
    register.name = "register"
    return {"model": train.outputs.model, "report": evaluate.outputs.report}


def _set_step_computes(job: PipelineJob, sc: SubmitConfig) -> None:
    """Only steps with their own cluster get one; the rest use the pipeline's default compute."""
    default = sc.azure.compute.default
    for step, node in job.jobs.items():
        compute = step_compute(sc.azure.compute, step)
        if compute != default:
            node.compute = compute


def build_pipeline_job(sc: SubmitConfig, data: DataBinding | None = None) -> PipelineJob:
    """Build, wire and validate the pipeline job for the composed config."""
    data = data or data_binding(sc)
    check_cloud_overrides(sc, data, all_step_bindings())
    components = build_components(sc, data)
    decorate = dsl.pipeline(
        name=PIPELINE_NAME,
        display_name=PIPELINE_NAME,
        description="Prepare, train, evaluate and register the price forecaster.",
        default_compute=sc.azure.compute.default,
    )
    model_name = sc.cfg.registry.model_name
    if data.input_path is None:

        @decorate
        def stockcast_pipeline(model_name: str) -> dict:
            return _wire(components, model_name, raw_data=None)

        job = stockcast_pipeline(model_name=model_name)
    else:

        @decorate
        def stockcast_pipeline(raw_data: Input, model_name: str) -> dict:
            return _wire(components, model_name, raw_data=raw_data)

        raw_data = Input(type=data.inputs[RAW_DATA_INPUT], path=data.input_path)
        job = stockcast_pipeline(raw_data=raw_data, model_name=model_name)

    _set_step_computes(job, sc)
    job.experiment_name = sc.azure.experiment_name
    job.settings.force_rerun = bool(sc.azure.force_rerun)
    return ensure_valid(job, "The pipeline job")
