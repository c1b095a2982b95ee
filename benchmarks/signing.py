"""Signing rows of `make bench`'s predict benchmark: seconds to sign a registered model's folder
(what the register step pays with `registry.signing.private_key`) and to verify the signature
(what every open pays with `registry.signing.public_key`).

Timed after model_signing's first import, which costs about 1 s on a busy machine once per
process and is not the work: hashing each file once and one EC signature, about 0.03 s each.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, median
from stockcast.config.compose import compose_config, local_store_overrides
from stockcast.registry.keys import create_key_pair
from stockcast.registry.signing import SIGNATURE_FILE, sign_folder, verify_folder
from stockcast.registry.store import ModelRegistry

SIGNING_TARGET_S = 1.0
SIGNING_REPEATS = 5


def signing_seconds(folder: Path, keys: Path, repeats: int) -> tuple[float, float]:
    """Median seconds to sign `folder` and to verify its signature, with a key pair made in
    `keys`."""
    import model_signing.signing
    import model_signing.verifying  # noqa: F401

    private, public = create_key_pair(keys)
    assert private is not None  # a new folder: the pair is made there
    signed: list[float] = []
    verified: list[float] = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="stockcast-bench-signature-") as tmp:
            signature = Path(tmp) / SIGNATURE_FILE
            begin = time.perf_counter()
            sign_folder(folder, str(private), signature)
            middle = time.perf_counter()
            verify_folder(folder, signature, str(public), "the bench's model")
            signed.append(middle - begin)
            verified.append(time.perf_counter() - middle)
    return median(signed), median(verified)


def signing_rows(store: Path, repeats: int = SIGNING_REPEATS) -> list[Row]:
    """The rows for the version registered in `store`, signed as registered (its verified copy:
    the signature file left out)."""
    registry = ModelRegistry.from_config(
        compose_config("predict", local_store_overrides(store)).registry
    )
    folder, _ = registry.verified_folder(registry.resolve(), store / "signing" / "model")
    sign_s, verify_s = signing_seconds(folder, store / "signing" / "keys", repeats)
    files = sum(path.is_file() for path in folder.rglob("*"))
    note = f"median of {repeats}; {files} files, sha256 each; model_signing imported before"
    target = f"< {SIGNING_TARGET_S:g} s"
    return [
        Row(
            "predict",
            "sign the registered model's folder (register step)",
            sign_s,
            "s",
            target=target,
            met=sign_s < SIGNING_TARGET_S,
            note=note,
        ),
        Row(
            "predict",
            "verify its signature (every open with a public key)",
            verify_s,
            "s",
            target=target,
            met=verify_s < SIGNING_TARGET_S,
            note=note,
        ),
    ]
