"""Where the project lives, and config values without the training machine's paths.

`PROJECT_ROOT` is the checkout (the folder holding configs/). A registered model is read on
other machines (an endpoint, a colleague's laptop); the absolute paths of the machine that trained
it say nothing there and leak its layout. Paths inside the project become relative to it
(`data/prices.csv`); other absolute paths keep their last part only. What a run logs or stores
(its metrics.json, MLflow params, the monitor's report) names paths relative to the run's folder
or to the store's, the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any

# src/stockcast/paths.py -> the checkout.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The Hydra configs every command composes.
CONFIG_DIR = PROJECT_ROOT / "configs"
URI_PREFIXES = ("sqlite:///", "file://")
ELIDED = "..."


def config_folders(config_dirs: Sequence[str | Path] = ()) -> list[Path]:
    """The folders a command's configs come from: configs/, then the `--config-dir` folders it
    searched (`config_dirs`), in Hydra's order (configs/ wins a name both hold)."""
    return [CONFIG_DIR, *(Path(folder) for folder in config_dirs)]


def is_config_group(name: str, config_dirs: Sequence[str | Path] = ()) -> bool:
    """Whether a top-level config key names a config group (a folder of options, such as
    `experiment` or `model`) rather than a setting, in configs/ or a `--config-dir` folder."""
    return "." not in name and any((f / name).is_dir() for f in config_folders(config_dirs))


def config_group_options(group: str, config_dirs: Sequence[str | Path] = ()) -> list[str]:
    """The configs of `group` a user may choose, in configs/ or a `--config-dir` folder, sorted:
    those named `_...` are pieces other configs include, no option."""
    names = {
        path.stem
        for folder in config_folders(config_dirs)
        for path in (folder / group).glob("*.yaml")
    }
    return sorted(name for name in names if not name.startswith("_"))


def _is_absolute(text: str) -> bool:
    return PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute()


def portable_path(text: str, *roots: Path) -> str:
    """`/home/me/project/data/x.csv` -> `data/x.csv`; `/tmp/run/model` -> `.../model`.

    Relative to the first of `roots` (default: the project) that holds the path."""
    prefix = next((p for p in URI_PREFIXES if text.startswith(p)), "")
    path = text[len(prefix) :]
    if not _is_absolute(path):
        return text
    resolved = Path(path).resolve()
    for root in roots or (PROJECT_ROOT,):
        try:
            return prefix + resolved.relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            continue
    return f"{prefix}{ELIDED}/{PurePath(path).name}"


def portable(value: Any, *roots: Path) -> Any:
    """A plain config tree (dicts, lists, scalars) with every path made `portable_path`."""
    if isinstance(value, Mapping):
        return {key: portable(item, *roots) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [portable(item, *roots) for item in value]
    if isinstance(value, str):
        return portable_path(value, *roots)
    return value


def user_path(text: str) -> Path:
    """A folder or file a user typed in a setting (`train.resume`, `replay.resume_from`,
    `data.path`), with `~` read as their home as a shell would: Hydra passes a quoted `'~/run'`
    on as typed."""
    return Path(text).expanduser()


def project_path(text: str, root: Path = PROJECT_ROOT) -> Path:
    """Where a portable path points on this machine: relative ones are read from the project,
    one under `~` from the home folder (as the data file it names was read)."""
    path = user_path(text)
    return path if path.is_absolute() or path.exists() else root / path
