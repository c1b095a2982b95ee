"""The launcher: compose each job's config locally, then dry-run or submit it to Azure ML.

Composing first means a misspelt override fails on the laptop, not in a paid job. Without a
configured workspace it stops with the same one-sentence message as `make submit*`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus, configure_log, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from stockcast.azure_failures import describe_azure_failure
from stockcast.config.overrides import as_typed
from stockcast.config.search_path import main_config_dir
from stockcast.errors import StockcastError, exit_with_error
from stockcast.orchestration.azureml.settings import (
    AZUREML_GROUP_OVERRIDE,
    AzureMLConfigError,
    check_no_local_overrides,
    dry_run_from_env,
    is_azure_override,
    missing_sdk,
    node_composition,
    quiet_sdk_warnings,
    warn_local_settings_left_out,
)

log = logging.getLogger(__name__)

# Sweepers that choose the next jobs from the metrics of the previous ones.
RESULT_DRIVEN_SWEEPERS = ("hydra_plugins.stockcast_optuna_sweeper.",)


class AzureMLLauncher(Launcher):
    """Each job -> an Azure ML command job running `python src/train.py <its overrides>`."""

    def __init__(
        self,
        experiment_name: str | None = None,
        compute: str | None = None,
        environment: str | None = None,
        dry_run: bool | None = None,
        wait: bool = False,
        azureml_overrides: Sequence[str] = (),
    ) -> None:
        self.experiment_name = experiment_name
        self.compute = compute
        self.environment = environment
        self.dry_run = dry_run_from_env() if dry_run is None else dry_run
        self.wait = wait
        self.azureml_overrides = list(azureml_overrides)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function
        sweeper = str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
        if sweeper.startswith(RESULT_DRIVEN_SWEEPERS) and (self.dry_run or not self.wait):
            exit_with_error(
                "hydra/sweeper=optuna needs each trial's metric back, so with "
                "hydra/launcher=azureml it needs hydra.launcher.wait=true and no dry run (each "
                "batch of hydra.sweeper.n_jobs jobs is then submitted and awaited in turn)."
            )
        unknown = [o for o in self.azureml_overrides if not is_azure_override(o)]
        if unknown:
            exit_with_error(
                f"hydra.launcher.azureml_overrides takes azureml.* overrides only: {unknown}"
            )
        try:
            check_no_local_overrides(self._task_overrides())
        except AzureMLConfigError as err:
            exit_with_error(str(err))
        warn_local_settings_left_out(self._config_dir())

    def _config_dir(self) -> Path:
        """The folder the sweep's configs come from, whose local/ settings its jobs' nodes lack."""
        assert self.config is not None
        return main_config_dir(self.config.hydra)

    def _task_overrides(self) -> list[str]:
        """The sweep's overrides as typed: read through the list node, one naming no key
        (`tags=[${nope}]`) was resolved here and ended the sweep in Hydra's words, not the
        schema's sentence naming the setting."""
        assert self.config is not None
        return as_typed(OmegaConf.select(self.config, "hydra.overrides.task", default=None))

    def _job_config(self, overrides: Sequence[str], num: int) -> DictConfig:
        """The job's config plus the azureml settings, composed as its node will compose the job
        (without configs/local/default.yaml, which the code snapshot leaves out); the job's command
        line carries only `overrides`."""
        assert self.config is not None and self.hydra_context is not None
        node = node_composition(self._config_dir())
        extra = [*node, AZUREML_GROUP_OVERRIDE, *self.azureml_overrides]
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, [*overrides, *extra])
        with open_dict(cfg):
            cfg.hydra.job.id = f"azureml_{num}"
            cfg.hydra.job.num = num
        return cfg

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        try:
            return self._launch(job_overrides, initial_job_idx)
        except StockcastError as err:
            exit_with_error(str(err))
        except ImportError as err:
            exit_with_error(str(missing_sdk(err)))
        except Exception as err:
            described = describe_azure_failure(err)
            if described is None:
                raise
            exit_with_error(f"submitting the sweep failed: {described}")
        raise AssertionError("unreachable")

    def _launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> list[JobReturn]:
        from stockcast.orchestration.azureml import jobs
        from stockcast.orchestration.azureml.workspace import ml_client, resolve_workspace
        from stockcast.orchestration.sweeps import tracking
        from stockcast.paths import PROJECT_ROOT

        assert self.config is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        quiet_sdk_warnings()
        sweep_dir = Path(self.config.hydra.sweep.dir).resolve()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        settings = jobs.SweepJobSettings(self.experiment_name, self.compute, self.environment)
        action = "writing" if self.dry_run else "submitting"
        log.info(
            "Azure ML launcher: %s %d jobs, sweep dir %s", action, len(job_overrides), sweep_dir
        )

        built = []
        for offset, overrides in enumerate(job_overrides):
            num = initial_job_idx + offset
            cfg = self._job_config(list(overrides), num)
            spec = jobs.SweepJobSpec(num, tuple(overrides), tracking.sweep_id(sweep_dir), sweep_dir)
            built.append((spec, cfg, jobs.build_sweep_job(cfg, spec, settings)))
            log.info("\t#%d : %s", num, " ".join(overrides))

        if self.dry_run:
            paths = [jobs.write_sweep_job(job, spec) for spec, _, job in built]
            for path in paths:
                print(f"wrote {path}")
            print(jobs.sweep_dry_run_note(paths), flush=True)
            return [self._job_return(spec, cfg, None) for spec, cfg, _ in built]

        workspace = resolve_workspace(built[0][1].azureml.workspace, PROJECT_ROOT)
        client = ml_client(workspace)
        submitted = []
        for spec, cfg, job in built:
            created = client.jobs.create_or_update(
                job, experiment_name=jobs.sweep_experiment_name(cfg, settings)
            )
            print(f"job {spec.num}: submitted {created.name}: {created.studio_url}", flush=True)
            submitted.append((spec, cfg, created.name))
        if not self.wait:
            return [self._job_return(spec, cfg, None) for spec, cfg, _ in submitted]
        return [self._await(client, spec, cfg, name) for spec, cfg, name in submitted]

    def _await(self, client: Any, spec: Any, cfg: DictConfig, name: str) -> JobReturn:
        """Stream the job to its end; its return value is the optimised metric of its metrics.json."""
        from stockcast.orchestration.azureml import jobs
        from stockcast.orchestration.sweeps.metric import optimized_value

        try:
            client.jobs.stream(name)
            metrics = jobs.fetch_metrics(client, name, spec.job_dir)
            if metrics is None:
                raise RuntimeError(f"Azure ML job {name} finished without a metrics.json output")
            value = optimized_value(metrics, cfg.get("optimized_metric"))
        except Exception as err:  # a failed cloud job fails this sweep job, as a local one would
            return self._job_return(spec, cfg, err, JobStatus.FAILED)
        return self._job_return(spec, cfg, value)

    @staticmethod
    def _job_return(
        spec: Any, cfg: DictConfig, value: Any, status: JobStatus = JobStatus.COMPLETED
    ) -> JobReturn:
        task_cfg = OmegaConf.masked_copy(
            cfg, [key for key in cfg if key not in ("hydra", "azureml")]
        )
        return JobReturn(
            overrides=list(spec.overrides),
            cfg=task_cfg,
            hydra_cfg=OmegaConf.masked_copy(cfg, ["hydra"]),
            working_dir=str(spec.job_dir),
            task_name=str(cfg.hydra.job.name),
            status=status,
            _return_value=value,
        )
