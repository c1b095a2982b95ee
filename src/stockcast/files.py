"""Small file writers shared by the steps and prediction."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import stat
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# A series id in a file name (a plot per series): what every file system takes, well under the
# usual 255-byte limit with the rest of the name.
SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9._-]+")
FILE_NAME_PART_CHARS = 100
FILE_NAME_HASH_CHARS = 8


def file_in_the_way(folder: Path) -> Path | None:
    """The file standing where `folder` or one of its parents should be (a run or output folder
    named after a file, or inside one), else None: what each caller's sentence names before the
    operating system's FileExistsError or NotADirectoryError would."""
    return next(
        (path for path in (folder, *folder.parents) if path.exists() and not path.is_dir()), None
    )


def folder_not_made(folder: Path) -> str | None:
    """Makes `folder` and its parents; the operating system's reason where it cannot, else None
    (each caller says in its own sentence which setting names the folder)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return err.strerror or str(err)
    return None


def folder_not_writable(folder: Path) -> str | None:
    """Makes `folder` and its parents; the operating system's reason where it cannot, or where
    this user cannot create files in it (a read-only folder), else None: said before the work
    whose files would go there, not by the traceback of its first write."""
    reason = folder_not_made(folder)
    if reason is None and not os.access(folder, os.W_OK | os.X_OK):
        return os.strerror(errno.EACCES)
    return reason


def folder_cannot_be_written(folder: Path) -> str | None:
    """`folder_not_writable`, leaving nothing behind: the folders made to find out are removed
    again, so a step refused afterwards (for its inputs) leaves no empty output folder, and the
    step makes them itself as before."""
    made = [path for path in (folder, *folder.parents) if not path.exists()]
    reason = folder_not_writable(folder)
    for path in made:  # the deepest first; one another process has filled meanwhile stays
        with contextlib.suppress(OSError):
            path.rmdir()
    return reason


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float (NaN, ±inf, also numpy's) turned into None.

    Python's json writes bare `NaN`/`Infinity`, which is not JSON: other readers refuse the file.
    """
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.number | np.bool_) or (
        isinstance(value, np.ndarray) and value.dtype.kind in "biuf"
    ):
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def file_name_part(text: str) -> str:
    """`text` as part of a file name on every system: kept where it is letters, digits, `.`,
    `_` and `-` and short enough; otherwise those characters (others as `_`, cut to
    `FILE_NAME_PART_CHARS`) and a short hash of the whole, so two texts never share a name
    (`BRK/B` and `BRK_B`)."""
    if SAFE_FILE_NAME.fullmatch(text) and len(text) <= FILE_NAME_PART_CHARS:
        return text
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', text)[:FILE_NAME_PART_CHARS]}-{_digest(text)}"


def file_name_parts(texts: Sequence[str]) -> dict[str, str]:
    """Each text's `file_name_part`, with the hash added where two of them differ only in case
    (`AAPL` and `aapl`): a case-insensitive file system (macOS's, Windows') holds one file for
    both, so one plot would overwrite the other."""
    parts = {text: file_name_part(text) for text in texts}
    counts = Counter(part.lower() for part in parts.values())
    return {
        text: part if counts[part.lower()] == 1 else f"{part}-{_digest(text)}"
        for text, part in parts.items()
    }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:FILE_NAME_HASH_CHARS]


def read_json_object(path: str | Path) -> dict[str, Any] | None:
    """A JSON file's object, or None where the file holds none (missing, unreadable, cut short,
    edited, not text, or another JSON value): for the caller's one sentence saying what to do."""
    try:
        content = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def write_whole(path: str | Path, write: Callable[[Path], object]) -> Path:
    """`write(file)` into a temporary file beside `path`, synced to disk, then renamed over it:
    a process killed (or a machine stopped) while writing leaves the previous file, not a
    truncated one that no longer parses. A symlinked `path` is written through, as `open` does,
    so the link stays a link, and the file keeps its mode; a hard link to it keeps the previous
    contents (the new file is another one)."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    # Named for this process and thread (mkstemp's file would keep mode 0600, not the umask's).
    staged = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        write(staged)
        with staged.open("rb+") as handle:
            os.fsync(handle.fileno())
        if target.exists():
            os.chmod(staged, stat.S_IMODE(target.stat().st_mode))
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    return path


def write_json(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """`payload` as JSON, written whole or not at all (`write_whole`)."""
    text = json.dumps(json_safe(payload), indent=2, default=str, allow_nan=False)
    return write_whole(path, lambda staged: staged.write_text(text + "\n"))
