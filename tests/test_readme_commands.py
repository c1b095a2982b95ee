"""Every command of the README's code blocks that composes a config (train, predict, serve, the
pipeline and its steps, the replay, the Azure ML submits; a search with its first trial)
composes and passes the schema, so a renamed key, group or option cannot leave the README
telling users to type something that is refused. Commands quoted in its prose are not read."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from omegaconf import DictConfig, open_dict

from stockcast.config.compose import CONFIG_DIR, compose_config
from stockcast.config.schema import validate_config

README = CONFIG_DIR.parent / "README.md"
# How a README command names the config it composes (the entry point's, `hydra_task`); the
# Azure ML commands compose the pipeline config with the azureml group (`SUBMIT`).
SUBMIT = "submit"
CONFIGS = {
    "python src/train.py": "train",
    "python scripts/predict.py": "predict",
    "python scripts/serve.py": "serve",
    "python -m stockcast.orchestration.runner": "pipeline",
    "python -m stockcast.orchestration.replay": "replay",
    "python -m stockcast.orchestration.steps.": "pipeline",
    "make train": "train",
    "make pipeline": "pipeline",
    "make replay": "replay",
    "make serve": "serve",
    "make submit": SUBMIT,
    "make schedule-": SUBMIT,
    "make deploy": SUBMIT,
}
# The targets the Makefile gives `experiment=$(EXPERIMENT)` unless ARGS names one
# (WITH_EXPERIMENT), and the searches that choose their own.
WITH_EXPERIMENT = ("make train", "make pipeline", "make replay", "make submit", "make schedule-")
MAKE_EXPERIMENT = "experiment=mlp_w10"
SEARCHES_WITH_EXPERIMENT = ("hparams_search=auto_optuna",)
# What may stand before a command on its line: variables for it, the venv's interpreter.
PREFIX = re.compile(r"^(?:[A-Z_]+=\S*\s+)*(?:\.venv/bin/)?")


def readme_commands() -> list[tuple[str, str, list[str]]]:
    """(the README line, its config, its Hydra overrides) of every command in a code block."""
    blocks = re.findall(r"^\s*```[\w-]*\n(.*?)^\s*```", README.read_text(), re.S | re.M)
    text = "\n".join(blocks).replace("\\\n", " ")
    found = []
    for raw in text.splitlines():
        line = PREFIX.sub("", raw.strip())
        start = next((s for s in CONFIGS if line.startswith(s)), None)
        if start is None:  # another command, or a block of YAML or Python
            continue
        words = shlex.split(line, comments=True)
        if words[0] == "make":
            args = next((w.removeprefix("ARGS=") for w in words if w.startswith("ARGS=")), "")
            words = shlex.split(args)
            if start in WITH_EXPERIMENT and not any(
                w.startswith("experiment=") or w in SEARCHES_WITH_EXPERIMENT for w in words
            ):
                words.append(MAKE_EXPERIMENT)
        # A placeholder (`replay.resume_from=logs/replay/runs/<timestamp>`) stands for a value.
        overrides = [re.sub(r"<[^>]+>", "x", w) for w in words if _override(w)]
        found.append((line.split("#")[0].strip(), CONFIGS[start], overrides))
    return found


def _override(word: str) -> bool:
    return "=" in word and not word.startswith("-")


def first_of_each_sweep(overrides: list[str]) -> list[str]:
    """A multirun's overrides as its first job could get them (`optim.lr=1e-3,3e-3` -> `1e-3`;
    an interval, which Optuna draws from, its start)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [
        f"{o.get_key_element()}={_first_value(o)}" if o.is_sweep_override() else o.input_line
        for o in parsed
    ]


def _first_value(override: Override) -> str:
    value = override.value()
    if isinstance(value, IntervalSweep):
        return str(value.start)
    return next(iter(override.sweep_string_iterator()))


def first_trial(cfg: DictConfig) -> list[str]:
    """The overrides a search's (`hydra.sweeper.params`) first trial could draw: each choice's
    first option, each interval's or range's start."""
    params = cfg.hydra.sweeper.get("params") or {}
    lines = [f"{key}={value}" for key, value in params.items()]
    trial = []
    for override in OverridesParser.create().parse_overrides(lines):
        value = override.value()
        if isinstance(value, ChoiceSweep):
            first = next(iter(override.sweep_string_iterator()))
        elif isinstance(value, IntervalSweep | RangeSweep):
            first = str(value.start)
        else:
            first = override.get_value_element_as_str()
        trial.append(f"{override.get_key_element()}={first}")
    return trial


COMMANDS = readme_commands()


def test_the_readme_shows_the_commands_of_every_entry_point() -> None:
    assert {config for _, config, _ in COMMANDS} == set(CONFIGS.values())
    assert len(COMMANDS) > 50, "the README's code blocks were not read"


@pytest.mark.slow  # about sixty composes: the README's truth, not the inner loop's
@pytest.mark.parametrize(
    ("config", "overrides"),
    [(config, overrides) for _, config, overrides in COMMANDS],
    ids=[line for line, _, _ in COMMANDS],
)
def test_a_readme_command_composes_and_passes_the_schema(
    config: str, overrides: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # registry=azureml and the Azure ML launcher read the workspace's store from the node.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "azureml://set-on-the-node")
    monkeypatch.setenv("STOCKCAST_ROOT", str(tmp_path))
    command = first_of_each_sweep(overrides)
    if config == SUBMIT:
        from stockcast.orchestration.azureml.preflight import check_cloud_config
        from stockcast.orchestration.azureml.settings import compose_submit_config

        check_cloud_config(compose_submit_config(command).cfg)
        return
    cfg = compose_config(config, command, return_hydra_config=True)
    trial = first_trial(cfg)
    if trial:  # a search: its first trial's keys must exist in the config it runs on
        cfg = compose_config(config, [*command, *trial], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # as in a run: ${hydra:runtime.output_dir} resolves
    try:
        with open_dict(cfg):
            del cfg["hydra"]
        validate_config(cfg)
    finally:
        HydraConfig.instance().cfg = None


def readme_layout() -> str:
    """The README's code block that maps the repository (How it works)."""
    found = re.search(r"^```\n(configs/.*?)^```", README.read_text(), re.S | re.M)
    assert found, "the README's layout block was not found"
    return found.group(1)


def test_the_readme_layout_names_every_script_and_top_level_module() -> None:
    """A script or module added without its line leaves a reader of the layout unaware of it
    (`scripts/sweep_summary.py`, which a stopped sweep's message names, was missing)."""
    layout = readme_layout()
    scripts_line = next(line for line in layout.splitlines() if line.startswith("scripts/"))
    root = CONFIG_DIR.parent
    scripts = sorted(path.name for path in (root / "scripts").glob("*.py"))
    assert [name for name in scripts if name not in scripts_line] == []
    package = root / "src" / "stockcast"
    modules = [p.name for p in package.glob("*.py") if p.name != "__init__.py"]
    packages = [f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()]
    assert [name for name in sorted(modules + packages) if name not in layout] == []
