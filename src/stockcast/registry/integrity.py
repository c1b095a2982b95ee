"""Model folder integrity: one hash over every file, checked before anything in the folder runs.

A model folder holds code (`pyfunc_model.py`, `code/`), which MLflow executes when it loads the
model, so a changed file is a changed program. The register step records the folder's hash and a
per-file manifest in the version's tags, which live in the registry's database, not beside the
files. Loading then copies the folder into a private directory, hashing the bytes as it copies,
and compares them with those tags: only that copy, exactly the bytes that were checked, is loaded.
The tags live in the store the files live in, so the hash catches accidental damage, not someone
who can write the store; the signature (registry/signing.py) is what catches that.
"""

from __future__ import annotations

import hashlib
import json
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stockcast.errors import ArtifactError, DamagedVersion, first_few
from stockcast.registry.private_root import private_root
from stockcast.registry.signing import SIGNATURE_FILE

# Written by Python when the folder's code is imported; never part of what was registered.
IGNORED_DIRS = frozenset({"__pycache__"})
IGNORED_SUFFIXES = (".pyc",)
# Written by MLflow beside a model it downloads from the registry (its name and version), and the
# signature, which signs the other files (registry/signing.py) and so cannot be one of them.
IGNORED_TOP_FILES = frozenset({"registered_model_meta", SIGNATURE_FILE})
MANIFEST_DIGITS = 16  # per-file hash prefix kept in the manifest tag, enough to name a file
CHUNK = 1 << 20
SHOWN_FILES = 3  # how many changed, added or missing files a refusal names


@dataclass(frozen=True)
class FolderContents:
    """sha256 of every file of a folder, by relative POSIX path."""

    files: dict[str, str]

    @property
    def digest(self) -> str:
        """The model hash: sha256 over the sorted (path, file hash) pairs."""
        listing = "".join(f"{path}\0{sha}\n" for path, sha in sorted(self.files.items()))
        return hashlib.sha256(listing.encode()).hexdigest()

    def manifest(self) -> str:
        """Compact JSON {path: hash prefix}: stored beside the hash so a mismatch names files."""
        short = {path: sha[:MANIFEST_DIGITS] for path, sha in sorted(self.files.items())}
        return json.dumps(short, separators=(",", ":"))


@dataclass(frozen=True)
class Expected:
    """What a registered version's tags say its folder holds; `label` names it in messages."""

    digest: str
    manifest: Mapping[str, str] | None
    label: str


def _walk(folder: Path) -> list[Path]:
    """Every regular file under folder; links and special files are refused, not followed."""
    found: list[Path] = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if (
            IGNORED_DIRS.intersection(relative.parts)
            or path.name.endswith(IGNORED_SUFFIXES)
            or relative.as_posix() in IGNORED_TOP_FILES
        ):
            continue
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            continue
        if not stat.S_ISREG(mode):
            raise ArtifactError(
                f"{folder} holds {relative.as_posix()}, which is a link or a special file; a "
                "model folder holds plain files only, so it is refused."
            )
        found.append(path)
    return found


def _copy_hashing(source: Path, target: Path | None) -> str:
    digest = hashlib.sha256()
    with source.open("rb") as reader:
        writer = target.open("wb") if target is not None else None
        try:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                if writer is not None:
                    writer.write(chunk)
        finally:
            if writer is not None:
                writer.close()
    return digest.hexdigest()


def folder_contents(folder: str | Path, copy_to: str | Path | None = None) -> FolderContents:
    """Hash every file of `folder`; with `copy_to`, also write the very bytes hashed there."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtifactError(f"model folder {folder} does not exist.")
    files = {}
    for path in _walk(folder):
        relative = path.relative_to(folder)
        target = None
        if copy_to is not None:
            target = Path(copy_to) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
        files[relative.as_posix()] = _copy_hashing(path, target)
    return FolderContents(files)


def model_hash(model_dir: str | Path) -> str:
    """The hash of every file of a model folder: code, spec, weights, MLmodel, requirements."""
    return folder_contents(model_dir).digest


def parse_manifest(value: str | None) -> dict[str, str] | None:
    try:
        parsed = json.loads(value) if value else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _difference(contents: FolderContents, manifest: Mapping[str, str] | None) -> str:
    """Which files differ from the manifest, as a phrase for an error sentence."""
    if not manifest:
        return "its files differ from the registered ones"
    changed = [
        p
        for p, sha in contents.files.items()
        if p in manifest and manifest[p] != sha[: len(manifest[p])]
    ]
    added = [p for p in contents.files if p not in manifest]
    missing = [p for p in manifest if p not in contents.files]
    parts = [
        f"{what} {first_few(paths, SHOWN_FILES)}"
        for what, paths in (("changed", changed), ("added", added), ("missing", missing))
        if paths
    ]
    return "; ".join(parts) or "its files differ from the registered ones"


def check_contents(contents: FolderContents, expected: Expected, where: Path | None = None) -> None:
    """Refuse `contents` unless they are what `expected` records. `where` is the folder to name:
    one the user gave, never a registered version's download, which is a temporary folder (its
    label names the version)."""
    if contents.digest == expected.digest:
        return
    difference = _difference(contents, expected.manifest)
    shown = difference if where is None else f"{difference} in {where}"
    raise DamagedVersion(
        f"{expected.label} does not match what was registered ({shown}); it was modified after "
        "registration, so nothing in it is loaded: register the model again from its original "
        "folder.",
        difference,
    )


def private_copy(folder: str | Path) -> tuple[Path, FolderContents]:
    """A private copy of `folder` (its signature, caches and MLflow's note left out) and the
    hash of every file, taken from the very bytes copied."""
    copy = Path(tempfile.mkdtemp(dir=private_root(), prefix="model-"))
    return copy, folder_contents(folder, copy_to=copy)


def verified_copy(folder: str | Path, expected: Expected | None = None) -> tuple[Path, str]:
    """A private copy of `folder` and its hash; with `expected`, refused unless it matches.

    The copy holds exactly the bytes that were hashed, so a file changed after this check (or a
    stale `__pycache__`) cannot slip into what is loaded.
    """
    folder = Path(folder)
    copy, contents = private_copy(folder)
    if expected is not None:
        check_contents(contents, expected, folder)
    return copy, contents.digest
