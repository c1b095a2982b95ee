"""Registering a folder again repairs its version: the version reused is one whose store copy
still holds the folder's files (a damaged one gets a new version), and it is signed again where
its signature is missing or does not hold for this private key.

On a remote store every look at a version's files is a download of the whole folder, so the one
`version_holding` makes to compare hashes also hands back the version's signature, which
`sign_again` is given and so downloads nothing.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stockcast.errors import ArtifactError
from stockcast.registry.integrity import folder_contents
from stockcast.registry.signing import SIGNATURE_FILE, public_half, verify_folder
from stockcast.registry.verified import VersionFiles
from stockcast.registry.versions import VersionInfo


class VersionStore(VersionFiles, Protocol):
    """What the repair reads and writes of a store (`ModelRegistry`, which calls it): its
    versions' files, as the checks read them, and its versions and signatures."""

    def versions(self) -> list[VersionInfo]: ...

    def log_signature(self, run_id: str, model_dir: Path) -> None: ...


@dataclass(frozen=True)
class Held:
    """A version whose store copy holds a folder's files, and its signature as the download
    held it (None: the folder holds no signature)."""

    info: VersionInfo
    signature: bytes | None


def version_holding(registry: VersionStore, digest: str) -> Held | None:
    """The version registered with the files of hash `digest` whose store copy still holds
    them, with its signature. One whose files were changed or lost since is passed over, so
    registering the original folder again makes a new version rather than pointing at a broken
    one."""
    for info in registry.versions():
        if info.model_hash != digest:
            continue
        with tempfile.TemporaryDirectory(prefix="stockcast-holding-") as workdir:
            try:
                folder = registry.download(info, workdir)
                if folder_contents(folder).digest != digest:
                    continue
            except (ArtifactError, FileNotFoundError):  # its files are gone
                continue
            signature = folder / SIGNATURE_FILE
            return Held(info, signature.read_bytes() if signature.is_file() else None)
    return None


def sign_again(registry: VersionStore, held: Held, model_dir: Path) -> str | None:
    """Sign a version whose folder, `model_dir` (the store copy holds the same bytes:
    `version_holding`, which found `held`), is registered again with a private key, where its
    signature is missing (registered before the keys were set up) or does not hold for this key
    (the pair was replaced): why it was signed, None if it needed no signature."""
    existing, keys = held.info, registry.keys
    if not keys.private_key or existing.run_id is None:
        return None
    if held.signature is None:
        why = "registered unsigned, it is signed now"
    else:
        with tempfile.TemporaryDirectory(prefix="stockcast-signing-") as workdir:
            signature = Path(workdir) / SIGNATURE_FILE
            signature.write_bytes(held.signature)
            try:
                public = public_half(keys.private_key)
                verify_folder(model_dir, signature, public, registry.label(existing))
                return None
            except ArtifactError:
                why = "its signature did not hold for this key, it is signed with it now"
    registry.log_signature(existing.run_id, model_dir)
    return why
