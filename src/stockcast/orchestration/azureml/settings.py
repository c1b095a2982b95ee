"""What the Azure ML executor is told: the composed config, the user's step overrides, the data.

Shared by `scripts/submit.py` and the Hydra launcher, so both read DRY_RUN, compose the
`azureml` group and refuse bad settings the same way. Imports no azure-ai-ml: Hydra imports the
launcher, and with it this module, on every local run.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from stockcast.config.compose import CONFIG_DIR, compose_config
from stockcast.config.overrides import override_key, override_value
from stockcast.data.calendar import day_text, parse_day
from stockcast.errors import ConfigError
from stockcast.orchestration.azureml.keys import check_azure_keys
from stockcast.paths import PROJECT_ROOT

log = logging.getLogger(__name__)

PRIMARY_CONFIG = "pipeline"
TRAIN_CONFIG = "train"
AZUREML_GROUP_OVERRIDE = "+azureml=default"
DRY_RUN_ENV = "DRY_RUN"
# The data.path of the steps after prepare where an asset feeds it: they read the prepared
# folder, never the file.
ASSET_READ_BY_PREPARE = "asset-read-by-prepare"
FALSE_WORDS = {"", "0", "false", "no"}
# Storage URLs a run reads afresh each time (a schedule's daily input may be one).
FRESH_STORAGE = re.compile(r"^(https|wasbs|abfss|adl)://")
# The SDK warns about its own experimental schema classes on every dump; they are not ours to fix.
SDK_EXPERIMENTAL_LOGGER = "azure.ai.ml._utils._experimental"
CREDENTIAL_CHAIN_LOGGER = "azure.identity._credentials.chained"
SDK_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"

# The user's own settings, which train/predict/serve.yaml merge last (`optional local: default`):
# `.amlignore` leaves configs/local/ out of the code snapshot, so a cloud node composes without
# them. Its workspace settings (local/azureml.yaml, merged by the azureml group) stay read here.
LOCAL_GROUP = "local"
LOCAL_SETTINGS_FILE = Path(LOCAL_GROUP) / "default.yaml"
WITHOUT_LOCAL_SETTINGS = f"~{LOCAL_GROUP}"

RAW_DATA_INPUT = "raw_data"
CSV_DATA_CONFIG = "csv"
DATA_SOURCES = ("synthetic", "asset")


class AzureMLConfigError(ConfigError):
    """An Azure ML setting is missing or invalid; raised before anything is sent to Azure."""


def dry_run_from_env() -> bool:
    """`DRY_RUN=1` (any value but empty, 0, false, no) means write the YAML and send nothing."""
    return os.environ.get(DRY_RUN_ENV, "").lower() not in FALSE_WORDS


def missing_sdk(err: ImportError) -> AzureMLConfigError:
    """azure-ai-ml (or azure-identity) is not installed where the user runs the command."""
    return AzureMLConfigError(f"{err}; install the project with `pip install -e .`.")


def quiet_sdk_warnings() -> None:
    logging.getLogger(SDK_EXPERIMENTAL_LOGGER).setLevel(logging.ERROR)
    # Under Hydra's INFO logging the SDK's HTTP policy logs every request and response with its
    # headers (28 lines before a launcher's one-line error); failures reach the user as one
    # sentence anyway.
    logging.getLogger(SDK_HTTP_LOGGER).setLevel(logging.WARNING)
    # A failed DefaultAzureCredential logs every credential it tried (a dozen lines) and then
    # raises; the command reports that error as one sentence (stockcast.errors.describe_azure_failure).
    logging.getLogger(CREDENTIAL_CHAIN_LOGGER).setLevel(logging.ERROR)


def is_azure_override(override: str) -> bool:
    """Whether an override configures the executor rather than the steps."""
    key = override_key(override)
    return key == "azureml" or key.startswith(("azureml.", "azureml/"))


def node_composition(config_dir: Path) -> tuple[str, ...]:
    """The overrides that compose a cloud run's config here as its node will: without
    `configs/local/default.yaml`. Only where the file is (deleting a default that is not there
    is refused); never on the node's command line, where the file is not."""
    return (WITHOUT_LOCAL_SETTINGS,) if (config_dir / LOCAL_SETTINGS_FILE).is_file() else ()


def warn_local_settings_left_out(config_dir: Path) -> None:
    """Say once per submission that the user's own settings do not reach the cloud run."""
    if node_composition(config_dir):
        log.warning(
            "%s's settings stay on this machine (.amlignore leaves it out of the code snapshot), "
            "so the cloud run is checked and run without them; give the ones it needs as "
            "overrides.",
            config_dir / LOCAL_SETTINGS_FILE,
        )


def check_no_local_overrides(overrides: Sequence[str]) -> None:
    """Refuse `local=<name>` or `~local`: they compose here, where configs/local/ is, and the
    node, which lacks it, refuses them after the run is paid for."""
    named = [o for o in overrides if override_key(o) == LOCAL_GROUP]
    if named:
        raise AzureMLConfigError(
            f"{named[0]} names configs/local/, which stays on this machine (.amlignore leaves it "
            "out of the code snapshot) and a cloud run cannot read; drop it and give the "
            "settings the run needs as overrides."
        )


@dataclass(frozen=True)
class SubmitConfig:
    """The composed config plus the user's step overrides, which the cloud command lines repeat."""

    cfg: DictConfig
    step_overrides: tuple[str, ...]
    root: Path = PROJECT_ROOT

    @property
    def azure(self) -> DictConfig:
        return self.cfg.azureml

    @property
    def config_dir(self) -> Path:
        return self.root / CONFIG_DIR.name

    @property
    def data_choice(self) -> str | None:
        """The data config the steps will use (`gbm`, `csv`, ...), after experiments apply."""
        return OmegaConf.select(self.cfg, "hydra.runtime.choices.data")


def compose_submit_config(
    overrides: Sequence[str] = (), config_dir: Path = CONFIG_DIR
) -> SubmitConfig:
    """Compose pipeline.yaml + the azureml group with the user's overrides, as the cloud node
    will (without configs/local/default.yaml, which it lacks).

    Composing (rather than forwarding overrides blindly) catches a misspelt experiment or key on
    the laptop instead of in a paid cloud run.
    """
    overrides = list(overrides)
    check_no_local_overrides(overrides)
    warn_local_settings_left_out(config_dir)
    cfg = compose_config(
        PRIMARY_CONFIG,
        [AZUREML_GROUP_OVERRIDE, *node_composition(config_dir), *overrides],
        config_dir=config_dir,
        return_hydra_config=True,
    )
    check_azure_keys(cfg.azureml, config_dir)
    step_overrides = tuple(o for o in overrides if not is_azure_override(o))
    return SubmitConfig(cfg=cfg, step_overrides=step_overrides, root=config_dir.parent)


@dataclass(frozen=True)
class DataBinding:
    """Overrides that point the data config at today's data, plus the input they read, if any.

    `overrides` are emitted unquoted: they hold a `$(date ...)` substitution or an Azure ML
    `${{inputs.*}}` binding that must reach the shell as written.
    """

    overrides: tuple[str, ...]
    inputs: dict[str, str] = field(default_factory=dict)
    input_path: str | None = None
    # What the steps that never read the data get instead: the keys their data config still
    # requires (a file's path, naming the asset the prepared folder came from).
    elsewhere: tuple[str, ...] = ()
    # Whether the user gave data.as_of, which the run's date then does not replace.
    as_of_pinned: bool = False

    def for_step(self, reads_outside_world: bool) -> DataBinding | None:
        """The binding one step's command gets: all of it where the step reads the data."""
        if reads_outside_world:
            return self
        return DataBinding(overrides=self.elsewhere) if self.elsewhere else None


# The run's UTC date on the compute node, as `data.as_of` reads it (YYYY-MM-DD).
AS_OF_COMMAND = "$(date -u +%Y-%m-%d)"
# data.as_of as configs/data/_common.yaml writes it: today, wherever the config is composed.
TODAY_DEFAULT = "${stockcast_today:}"


def data_binding(sc: SubmitConfig) -> DataBinding:
    """Choose how each cloud run gets new data, refusing data configs that cannot honour it.

    Every run sees its data as of the run's date (`data.as_of`): a market reveals that day's
    value, a file's later rows are ignored.
    """
    settings = sc.azure.data
    # A data.as_of the user gave (a one-off backfill, on the command line or in an experiment)
    # is kept, as the date it gives here: the node has neither this machine's environment nor
    # its clock.
    written = OmegaConf.to_container(sc.cfg.data, resolve=False).get("as_of")  # type: ignore[union-attr]
    pinned = written != TODAY_DEFAULT
    given = day_text(parse_day(sc.cfg.data.as_of, "data.as_of")) if pinned else AS_OF_COMMAND
    as_of = (f"data.as_of={given}",)
    # Every step composes the user's override (`${oc.env:X}` too): the date given replaces it
    # in each, not only in the steps that read the data.
    everywhere = as_of if pinned else ()
    if settings.source == "synthetic":
        if OmegaConf.select(sc.cfg, "data.start_date", default=None) is None:
            raise AzureMLConfigError(
                f"azureml.data.source=synthetic reveals a market one business day at a time, but "
                f"data={sc.data_choice} is not a market (no data.start_date); pick one (data=gbm, "
                f"data=seasonal, data=market) or feed a CSV file (data=csv "
                f"azureml.data.source=asset)."
            )
        return DataBinding(overrides=as_of, as_of_pinned=pinned, elsewhere=everywhere)
    if settings.source == "asset":
        asked = [override_value(o) for o in sc.step_overrides if override_key(o) == "data"]
        if asked and asked[-1] != CSV_DATA_CONFIG:
            raise AzureMLConfigError(
                f"azureml.data.source=asset feeds a CSV file to the steps, but data={asked[-1]} "
                f"was asked for; use data=csv or azureml.data.source=synthetic."
            )
        paths = [override_value(o) for o in sc.step_overrides if override_key(o) == "data.path"]
        if paths:
            raise AzureMLConfigError(
                f"azureml.data.source=asset reads azureml.data.asset.path, not data.path="
                f"{paths[-1]}; name the file there (a datastore path or azureml:<asset>@latest)."
            )
        select_csv = () if sc.data_choice == CSV_DATA_CONFIG else (f"data={CSV_DATA_CONFIG}",)
        # Every step composes data=csv, as prepare does: the train step refuses data settings
        # its prepared folder was not made with (an experiment's seasonal data config sets a
        # season csv's does not). Their config needs a path, which they never open: a stand-in
        # (the asset's own may hold what a command line or an override would split: a SAS
        # URL's ?&, a partition's =).
        return DataBinding(
            overrides=(*select_csv, f"data.path=${{{{inputs.{RAW_DATA_INPUT}}}}}", *as_of),
            as_of_pinned=pinned,
            inputs={RAW_DATA_INPUT: settings.asset.type},
            input_path=settings.asset.path,
            elsewhere=(*select_csv, f"data.path={ASSET_READ_BY_PREPARE}", *everywhere),
        )
    raise AzureMLConfigError(
        f"azureml.data.source={settings.source!r} is not one of {', '.join(DATA_SOURCES)}."
    )


def check_schedulable(data: DataBinding) -> None:
    """Refuse a schedule whose daily runs would all read the version resolved at creation, or
    the same day's data (a data.as_of given)."""
    if data.as_of_pinned:
        raise AzureMLConfigError(
            "data.as_of is given (on the command line or by the experiment), but a schedule's "
            "runs each read the data as of their own date; drop it (make submit takes it, for "
            "one run of an earlier day)."
        )
    # Read afresh each run: a datastore path (azureml://[.../]datastores/<store>/paths/<file>)
    # or a storage URL. A data asset (azureml:<name>@latest, azureml:<name>:3, its
    # azureml://.../data/<name>/versions/3 address) is resolved, and a local file uploaded, once.
    path = data.input_path or ""
    fresh = (path.startswith("azureml://") and "/datastores/" in path) or bool(
        FRESH_STORAGE.match(path)
    )
    pinned = bool(path) and not fresh
    if pinned:
        raise AzureMLConfigError(
            f"azureml.data.asset.path={data.input_path} is resolved once, when the schedule is "
            f"created (a data asset's version, a local file's upload), so every daily run would "
            f"train on that same data; point it at a "
            f"datastore file that each upload replaces (azureml://datastores/<store>/paths/"
            f"<file>.csv) or use azureml.data.source=synthetic."
        )
