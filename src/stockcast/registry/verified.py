"""A registered version's files as anything may load them: a private copy, checked against what
its registration recorded (the hash and manifest in its tags) and, with
`registry.signing.public_key`, against its signature.

Kept apart from the store because it is the one gate every reader passes (predict, serve, warm
starts, the champion comparison), and it needs of a store only its download and its names for a
version: the checks read in one place, and the store keeps to the store.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from stockcast.errors import ArtifactError, DamagedVersion, UnverifiableVersion
from stockcast.registry.integrity import Expected, check_contents, parse_manifest, private_copy
from stockcast.registry.signing import SIGNATURE_FILE, SigningKeys, verify_folder
from stockcast.registry.versions import MANIFEST_TAG, VersionInfo

log = logging.getLogger(__name__)

WHOLE_FOLDER_HASH_LENGTH = 64


class VersionFiles(Protocol):
    """What the checks read of a store (`ModelRegistry`, which calls them)."""

    keys: SigningKeys

    def download(self, info: VersionInfo, dst: str | Path) -> Path: ...

    def label(self, info: VersionInfo) -> str: ...


def expected_files(info: VersionInfo, label: str) -> Expected:
    """What the version's folder must hold, from its tags (kept in the store's database);
    `label` names the version in the refusal."""
    digest = info.model_hash or ""
    if len(digest) != WHOLE_FOLDER_HASH_LENGTH:
        raise UnverifiableVersion(
            f"{label} carries no hash of its whole folder (registered by an older stockcast or "
            "by hand), so its files cannot be verified and it is not loaded; register the model "
            "again with the register step.",
            "no hash of its whole folder was recorded: registered by hand or by an older stockcast",
        )
    return Expected(digest, parse_manifest(info.tags.get(MANIFEST_TAG)), label)


def verified_folder(
    store: VersionFiles, info: VersionInfo, workdir: str | Path
) -> tuple[Path, str]:
    """A private copy of the version's folder and its hash, refused unless it matches the hash
    and manifest its registration recorded and, with a public key, unless its signature holds
    for exactly the copied bytes. Nothing of the folder is imported before both checks."""
    label = store.label(info)
    # First: a version without the hash (registered by hand) is unverifiable whatever its
    # signature says, and a champion of it is replaced; refused first for its missing
    # signature, it kept its place and every later registration failed on it.
    expected = expected_files(info, label)
    folder = store.download(info, workdir)
    # Messages name the version as the user asked for it: `folder` may be a temporary download.
    if not folder.is_dir() or not any(folder.iterdir()):
        raise DamagedVersion(
            f"{label} has no files in the store, so there is nothing to load; register the "
            "model again from its original folder.",
            "its files are gone",
        )
    copy, contents = private_copy(folder)
    signature = folder / SIGNATURE_FILE
    if store.keys.public_key:
        try:
            verify_folder(copy, signature, store.keys.public_key, label)
        except DamagedVersion:
            raise
        except ArtifactError:
            # Unsigned or signed with another key, and changed since it was registered too:
            # registering it again passes a changed version over (a new version), so the
            # refusal to name is the changed files, else the signature's would repeat forever.
            check_contents(contents, expected)
            raise
    elif signature.is_file():
        # A key folder that moved or a mistyped STOCKCAST_KEYS_DIR turns the check off.
        log.warning(
            "%s is signed, but registry.signing.public_key is not set, so only its hash is "
            "checked; set the public key of the pair that signs registrations to verify it",
            label,
        )
    check_contents(contents, expected)
    return copy, contents.digest
