"""What a pipeline run that registered a version says when a later step fails or a signal stops
it: the monitor step alone on its folders stores and judges the day's forecast, where running
it again would stop at prepare or register another version."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Container, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from stockcast.config.overrides import hydra_quoted
from stockcast.orchestration.step_run import port_bindings
from stockcast.orchestration.steps.run_folders import port_folder, step_folders
from stockcast.orchestration.steps.table import DECISION, DECISION_FILE, MONITOR, STEPS, Step
from stockcast.redaction import MASK, redacted_override
from stockcast.registry.signing import PEM_START

# The public key a run was given as text (from STOCKCAST_SIGNING_PUBLIC_KEY, say), kept in its run
# directory for the monitor command a failed step prints.
RERUN_PUBLIC_KEY_FILE = "public_key.pem"
# The override the printed monitor command leaves out: the monitor signs nothing.
PRIVATE_KEY = "registry.signing.private_key="


def register_decision(run_dir: Path, steps: Sequence[Step] = STEPS) -> dict[str, Any]:
    """The register step's decision in `run_dir`, whether or not it registered a version; empty
    where the run stopped before that step wrote it."""
    decision_file = port_folder(run_dir, DECISION, steps) / DECISION_FILE
    return json.loads(decision_file.read_text()) if decision_file.is_file() else {}


def registered_decision(run_dir: Path, steps: Sequence[Step] = STEPS) -> dict[str, Any] | None:
    """The register step's decision in `run_dir` where it registered a version; None where the
    run stopped before that step wrote it, or registered nothing: no monitor rerun to offer."""
    decision = register_decision(run_dir, steps)
    return decision if decision.get("registered") else None


def pipeline_goes_on(run_dir: Path) -> str | None:
    """How a pipeline stopped by a signal after its register step registered a version goes
    on: with the monitor command `run_pipeline` printed, as running it again would stop at
    prepare (the version's data is no new data); None where no version was registered."""
    if registered_decision(run_dir) is None:
        return None
    return (
        "running it again would stop at prepare, as the version it registered holds this "
        "day's data: store and judge the day's forecast with the monitor command above"
    )


def monitor_command_hint(
    run_dir: Path, steps: Sequence[Step], overrides: list[str], config_keys: Container[str]
) -> str:
    """What a step failing after the register step registered a version adds to its error: the
    rerun it asks for would stop at prepare (the version's data is no new data) or, with
    data.require_new_data=false, train again and register another version, so that day's
    forecast would never be stored once. The monitor step alone on this run's folders stores
    and judges it, training and registering nothing."""
    monitor = next((step for step in steps if MONITOR in (p.name for p in step.outputs)), None)
    has_decision = any(DECISION in (port.name for port in step.outputs) for step in steps)
    if monitor is None or not has_decision:
        return ""
    decision = registered_decision(run_dir, steps)
    if decision is None:
        return ""
    # A folder of its own: the failed step's may hold what it wrote before failing.
    folders = step_folders(run_dir, steps)[monitor.name]
    again = run_dir / f"{monitor.name}_again"
    folders |= {port.name: again / port.name for port in monitor.outputs}
    # The monitor signs nothing: a private key (text or a path) stays out of the message.
    settings = [o for o in overrides if not o.lstrip("+").startswith(PRIVATE_KEY)]
    shown = [redacted_override(o) for o in settings]
    command = [
        sys.executable,
        "-m",
        monitor.module,
        *shown,
        f"hydra.run.dir={hydra_quoted(str(again))}",
        *port_bindings(monitor, folders, config_keys),
    ]
    promoted = (decision.get("decision") or {}).get("promote")
    made = "as the champion" if promoted else "without making it the champion"
    masked = (
        f" (it shows each password as {MASK}: put them back before running it)"
        if shown != settings
        else ""
    )
    return (
        f" This run registered version {decision['version']} {made}: to store and judge this "
        "day's forecast without training or registering again, run the monitor step alone on "
        f"this run's folders{masked}: {shlex.join(command)}"
    )


def pinned_for_rerun(cfg: DictConfig) -> list[str]:
    """The settings the monitor step reads from the environment (`STOCKCAST_ROOT`,
    `STOCKCAST_KEYS_DIR`, `MLFLOW_TRACKING_URI`, `STOCKCAST_SIGNING_PUBLIC_KEY`), as this run
    resolved them: the command a failed step prints then reads this run's store and key in any
    shell, where a shell without them found no champion and stored nothing, with exit status 0,
    or checked no signature. A public key given as text is written beside the run's steps
    (`RERUN_PUBLIC_KEY_FILE`) and pinned as that file."""
    pins = [
        f"paths.root_dir={hydra_quoted(str(cfg.paths.root_dir))}",
        f"registry.tracking_uri={hydra_quoted(str(cfg.registry.tracking_uri))}",
    ]
    public = cfg.registry.signing.public_key
    if public is not None and str(public).lstrip().startswith(PEM_START):
        key_file = Path(cfg.paths.output_dir) / RERUN_PUBLIC_KEY_FILE
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(str(public))
        public = str(key_file)
    value = "null" if public is None else hydra_quoted(str(public))
    return [*pins, f"registry.signing.public_key={value}"]
