"""A local signing key pair (EC P-256, PEM): what `make` creates in keys/ on first use.

The private key signs at registration and never leaves this machine (git-ignored, left out of
the Azure ML code snapshot, readable by its owner only); the public key is what clients verify
against. An existing pair is never overwritten: versions signed with it must stay verifiable.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_KEY_FILE = "model-signing.key"
PUBLIC_KEY_FILE = "model-signing.pub"


def create_key_pair(folder: str | Path) -> tuple[Path, Path]:
    """`folder/model-signing.key` (mode 0600) and `.pub`, unless the private key is there."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = Path(folder)
    private_path, public_path = folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE
    if private_path.is_file():
        return private_path, public_path
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    handle = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "wb") as file:
        file.write(private_pem)
    public_path.write_bytes(public_pem)
    return private_path, public_path
