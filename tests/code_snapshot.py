"""What Azure ML uploads of the project as a job's code snapshot, by the SDK's own reading of
`.amlignore`: the cloud command tests run from it, and a test checks what it holds."""

from __future__ import annotations

import functools
from pathlib import Path

from stockcast.paths import PROJECT_ROOT


def uploaded_files(root: Path = PROJECT_ROOT) -> dict[str, Path]:
    """Each uploaded file's path in the snapshot, and where it is here."""
    if root == PROJECT_ROOT:
        return dict(_project_files())
    return _listed(root)


@functools.cache
def _project_files() -> dict[str, Path]:
    """The project's own, read once per test process: the SDK walks every file under the root
    before it filters (.git and .venv too, seconds each time), and no test writes there what
    it would upload."""
    return _listed(PROJECT_ROOT)


def _listed(root: Path) -> dict[str, Path]:
    from azure.ai.ml._utils._asset_utils import get_ignore_file, get_upload_files_from_folder

    listed = get_upload_files_from_folder(root, ignore_file=get_ignore_file(root))
    return {relative: Path(source) for source, relative in listed}
