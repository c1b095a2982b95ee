"""A local signing key pair (EC P-256, PEM): what `make` creates in keys/ on first use.

The private key signs at registration and never leaves this machine (git-ignored, left out of
the Azure ML code snapshot, readable by its owner only); the public key is what clients verify
against. An existing key is never overwritten: versions signed with it must stay verifiable, and
a public key alone is a machine that verifies and signs nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from stockcast.errors import ConfigError

PRIVATE_KEY_FILE = "model-signing.key"
PUBLIC_KEY_FILE = "model-signing.pub"
# Anyone may read the public key.
PUBLIC_KEY_MODE = 0o644


def create_key_pair(folder: str | Path) -> tuple[Path | None, Path]:
    """`folder/model-signing.key` (mode 0600) and `.pub`, unless a key is there: an existing
    private key keeps its pair (its public key written again from it if missing), and a public
    key alone is left as it is (the private key returned is then None). Safe to run from several
    processes at once: the private key appears whole or not at all, and every process writes the
    public key of the one that won."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = Path(folder)
    private_path, public_path = folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE
    if not private_path.is_file():
        if public_path.is_file():
            # A process creating the pair links its private key before writing the public one:
            # a public key that appeared since is that pair's, not a lone one.
            return (private_path if private_path.is_file() else None), public_path
        _make_folder(folder)
        key = ec.generate_private_key(ec.SECP256R1())
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        staged = _staged(folder, private_pem)  # mode 0600
        try:
            os.link(staged, private_path)  # fails where another process's key got there first
        except FileExistsError:
            pass
        finally:
            staged.unlink()
    if not public_path.is_file():
        _write_public_key(private_path, public_path)
    return private_path, public_path


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"cannot create the key folder {folder} ({err.strerror}); name a folder this user "
            "can write (python scripts/signing_keys.py <folder>, or STOCKCAST_KEYS_DIR)."
        ) from None


def _write_public_key(private_path: Path, public_path: Path) -> None:
    """The private key's public half, written whole (a reader never sees half a key)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    staged = _staged(public_path.parent, public_pem)
    staged.chmod(PUBLIC_KEY_MODE)
    os.replace(staged, public_path)


def _staged(folder: Path, content: bytes) -> Path:
    """`content` in a new file of `folder` only its owner can read, to be moved into place."""
    handle, name = tempfile.mkstemp(dir=folder, prefix=".staged-")
    with os.fdopen(handle, "wb") as file:
        file.write(content)
    return Path(name)
