"""Signed model folders: the register step signs, every client verifies against a public key.

The hash in a version's tags guards against accidental damage only: whoever can write the store
can rewrite the files and the tags together. A signature made with a private key that only the
registering side holds, checked against a public key configured outside the store, closes that
gap. The OpenSSF `model-signing` library signs a manifest of every file (sha256 each) with an EC
key; the signature travels inside the model folder as `model.sig`, which the folder hash leaves
out. Keys are PEM files, or PEM text (e.g. from an environment variable filled from a vault).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockcast.errors import ArtifactError, ConfigError, DamagedVersion, first_few, first_line
from stockcast.registry.keys import signing_key, unsigning_public_key

SIGNATURE_FILE = "model.sig"
PEM_START = "-----BEGIN"
PRIVATE_KEY_SETTING = "registry.signing.private_key"
# The library's manifest diff (verifying.Config._get_manifest_diff), one quoted entry per finding.
_FINDINGS = (
    ("changed", re.compile(r"Hash mismatch for '([^']+)'")),
    ("added", re.compile(r"Extra files found in model '[^']*': ([^\"']+)[\"']")),
    ("missing", re.compile(r"Missing files in model '[^']*': ([^\"']+)[\"']")),
)
SHOWN_FILES = 3


@dataclass(frozen=True)
class SigningKeys:
    """`registry.signing`: the private key that signs at registration, the public key that
    every client verifies with; either may be absent (None)."""

    private_key: str | None = None
    public_key: str | None = None

    @classmethod
    def from_config(cls, signing: Mapping[str, Any] | None) -> SigningKeys:
        signing = signing or {}
        return cls(signing.get("private_key") or None, signing.get("public_key") or None)


@contextmanager
def _key_file(value: str, setting: str) -> Iterator[Path]:
    """A PEM key as a file the library can read: the path itself, or PEM text written to a
    private (0600) temporary file, removed afterwards."""
    if not value.lstrip().startswith(PEM_START):
        path = Path(value)
        if not path.is_file():
            # A private key's text that lost its header (quoted, cut short) is never repeated; a
            # path that is there as something else is named, and what it is.
            if os.path.lexists(path) and not path.exists():
                target = path.parent / os.readlink(path)
                what = f"{path} is a symbolic link to {target}, which does not exist"
            elif path.is_dir():
                what = f"{path} is a folder, not a key file"
            elif setting == PRIVATE_KEY_SETTING:
                what = f"is neither a file nor PEM text (which starts with {PEM_START})"
            else:
                what = f"is {value}, which is not a file"
            raise ConfigError(
                f"{setting} {what}; give the path of a PEM key (`make` creates "
                "keys/model-signing.key and .pub) or the PEM text itself."
            )
        try:
            # The library's own refusal of a file it cannot read says the key is no PEM.
            with path.open("rb"):
                pass
        except OSError as err:
            raise ConfigError(
                f"{setting} {path} cannot be read ({err.strerror}); run as the user who owns "
                "it, or give a key this user can read."
            ) from None
        yield path
        return
    handle, name = tempfile.mkstemp(prefix="stockcast-key-", suffix=".pem")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(value.strip() + "\n")
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _not_a_public_key(value: str, pem: bytes, err: BaseException) -> ConfigError:
    """The refusal of a public key's contents (`pem`), naming its file where the setting is one:
    the local config reads keys/ (or STOCKCAST_KEYS_DIR) by default, a path the user never typed.
    A public key of a kind signing does not take is named as that kind."""
    setting = "registry.signing.public_key"
    shown = setting if value.lstrip().startswith(PEM_START) else f"{setting} {value}"
    kind = unsigning_public_key(pem)
    if kind is not None:
        return ConfigError(
            f"{shown} is {kind}, which model signing does not verify with; give the public half "
            "of the signing key (python scripts/signing_keys.py writes a P-256 pair)."
        )
    return ConfigError(
        f"{shown} is not an EC public key in PEM ({first_line(err, '. ')}); give the public "
        "half of the signing key."
    )


def _hashing() -> Any:
    """Every file counts (git files too), sha256 each: the same settings to sign and to verify."""
    from model_signing import hashing

    config = hashing.Config().use_file_serialization(hashing_algorithm="sha256")
    return config.set_ignored_paths(paths=[], ignore_git_paths=False)


def sign_folder(folder: Path, private_key: str, signature: Path) -> None:
    """Sign every file of `folder` into `signature` (the folder must not hold it)."""
    from model_signing import signing

    with _key_file(private_key, PRIVATE_KEY_SETTING) as key:
        try:
            config = signing.Config().set_hashing_config(_hashing())
            config.use_elliptic_key_signer(private_key=key).sign(folder, signature)
        except Exception as err:  # the library's reasons vary: an unreadable or unsupported key
            raise ConfigError(
                f"registry.signing.private_key cannot sign ({first_line(err, '. ')}); give an EC "
                "(P-256, P-384 or P-521) private key in PEM without a password."
            ) from None


def public_half(private_key: str) -> str:
    """The PEM public key of `private_key` (a PEM file or text), which must be a key the
    library signs with (`signing_key`)."""
    from cryptography.hazmat.primitives import serialization

    with _key_file(private_key, PRIVATE_KEY_SETTING) as key:
        pem = key.read_bytes()
    public = signing_key(pem, PRIVATE_KEY_SETTING).public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def check_signing_keys(keys: SigningKeys) -> None:
    """Refuse, before anything is registered, keys that would register versions their own
    clients refuse: a public key without the private key (the versions would go unsigned), or
    one that is not the private key's half; and a private key the library cannot sign with (a
    password, an RSA key), which it refused only when the first version was signed, after a
    pipeline had trained."""
    from cryptography.hazmat.primitives import serialization

    if keys.public_key and not keys.private_key:
        raise ConfigError(
            "registry.signing.public_key is set but registry.signing.private_key is not, so "
            "versions registered here would go unsigned and be refused wherever that public key "
            "is checked; set registry.signing.private_key to that public key's private half, or "
            "register with neither key (make keys creates a pair only where keys/ holds no key)."
        )
    if not keys.private_key:
        return
    signed_with = public_half(keys.private_key)
    if not keys.public_key:
        return
    with _key_file(keys.public_key, "registry.signing.public_key") as key:
        try:
            public = serialization.load_pem_public_key(key.read_bytes())
        except Exception as err:  # not PEM, or not a public key
            raise _not_a_public_key(keys.public_key, key.read_bytes(), err) from None
    shown = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    if shown != signed_with:
        raise ConfigError(
            "registry.signing.private_key and registry.signing.public_key are not one pair, so "
            "every version signed here would be refused where it is verified; set the public "
            "key of that private key (python scripts/signing_keys.py writes a pair)."
        )


@contextmanager
def signature_for(folder: Path, private_key: str, public_key: str | None) -> Iterator[Path]:
    """`model.sig` for `folder`, in a temporary folder while the block runs; checked against the
    public key too when one is set, so a mismatched pair fails at registration, not at the
    first predict."""
    with tempfile.TemporaryDirectory(prefix="stockcast-signature-") as workdir:
        signature = Path(workdir) / SIGNATURE_FILE
        sign_folder(folder, private_key, signature)
        if public_key:
            verify_folder(folder, signature, public_key, f"the model signed from {folder}")
        yield signature


def _files(message: str) -> str:
    """The files the library's mismatch message names, as a phrase ('' when it names none)."""
    parts = []
    # The message is a list's repr: an entry holding both quote kinds (a digest's bytes may hold
    # a double quote) comes in single quotes with its own single quotes escaped.
    message = message.replace("\\'", "'")
    for what, pattern in _FINDINGS:
        names = [n for found in pattern.findall(message) for n in found.split(", ")]
        if names:
            parts.append(f"{what} {first_few(names, SHOWN_FILES)}")
    return "; ".join(parts)


def verify_folder(folder: Path, signature: Path, public_key: str, label: str) -> None:
    """Refuse `folder` in one sentence unless `signature` signs exactly its files with the
    private key of `public_key`."""
    from model_signing import verifying

    if not signature.is_file():
        raise ArtifactError(
            f"{label} carries no signature ({SIGNATURE_FILE}), so it is not loaded while "
            "registry.signing.public_key is set; register it again with "
            "registry.signing.private_key set (the register step signs it)."
        )
    with _key_file(public_key, "registry.signing.public_key") as key:
        try:
            config = verifying.Config().use_elliptic_key_verifier(public_key=key)
        except Exception as err:  # not PEM, or not an EC key
            raise _not_a_public_key(public_key, key.read_bytes(), err) from None
        try:
            config.set_hashing_config(_hashing()).verify(folder, signature)
        except Exception as err:  # a bad signature fails closed, whatever the library raised
            raise _refusal(err, label) from None


def _refusal(err: BaseException, label: str) -> ArtifactError:
    """Why a signature did not verify, and what to do, as the one sentence: files that differ
    from the signed ones are a damaged version; another key or an unreadable signature is not."""
    message = str(err)
    if "Key mismatch" in message:
        return ArtifactError(
            f"{label} is refused: its signature was made with another key than "
            "registry.signing.public_key, so nothing in it is loaded; set the public key of the "
            "pair that signs registrations, or register the model again with that pair."
        )
    files = _files(message)
    advice = (
        "so it was changed after it was signed and nothing in it is loaded; register the model "
        "again from its original folder"
    )
    if files:
        reason = f"its files differ from the signed ones ({files})"
        return DamagedVersion(f"{label} is refused: {reason}, {advice}.", files)
    reason = f"its signature does not verify ({first_line(err, '. ')})"
    return ArtifactError(f"{label} is refused: {reason}, {advice}.")
