"""What the signing test modules share: key pairs made once per module, a copy of the
session's registered model folder, fresh stores to register it in, and the register step and
predict's config on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stockcast.config.compose import compose_config
from stockcast.errors import ArtifactError
from stockcast.orchestration.steps.register import run_register
from stockcast.registry.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, create_key_pair
from stockcast.registry.signing import SigningKeys
from stockcast.registry.store import ModelRegistry
from stockcast.serving.model import open_model
from tests.conftest import LENIENT_GATE, MODEL, isolated_overrides, run_task, seed_store


# The fixtures are named in their decorators: a module imports `keys_fixture`, and its tests'
# `keys` arguments shadow no import.
@pytest.fixture(scope="module", name="keys")
def keys_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_key_pair(tmp_path_factory.mktemp("keys"))[0].parent


@pytest.fixture(scope="module", name="other_keys")
def other_keys_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_key_pair(tmp_path_factory.mktemp("other_keys"))[0].parent


def signing(folder: Path | None, private: bool = True) -> SigningKeys:
    if folder is None:
        return SigningKeys()
    return SigningKeys(
        str(folder / PRIVATE_KEY_FILE) if private else None, str(folder / PUBLIC_KEY_FILE)
    )


def store_registry(store: Path, keys: SigningKeys, create: bool = False) -> ModelRegistry:
    return ModelRegistry(
        f"sqlite:///{store}/mlruns.db",
        MODEL,
        artifact_location=f"{store}/mlartifacts",
        create=create,
        keys=keys,
    )


@pytest.fixture(scope="module", name="model_folder")
def model_folder_fixture(registered_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the session's registered version 1 (a refit, `evaluated/` inside)."""
    registry = store_registry(registered_store, SigningKeys())
    return registry.download(registry.resolve(version=1), tmp_path_factory.mktemp("download"))


def register(store: Path, folder: Path, keys: SigningKeys) -> ModelRegistry:
    registry = store_registry(store, keys, create=True)
    with registry.writing():
        registry.register(folder, {"refit": "true"})
    return registry


@pytest.fixture(name="store")
def store_fixture(tmp_path: Path, store_template: Path) -> Path:
    return seed_store(store_template, tmp_path / "store")


def predict_cfg(store: Path, *overrides: str):
    return compose_config("predict", [*isolated_overrides(store), *overrides])


def register_step(registered_store: Path, store: Path, run_dir: Path, *overrides: str) -> dict:
    """The register step (in this process) on the session pipeline's refit and report."""
    run = sorted((registered_store / "logs" / "pipeline" / "runs").iterdir())[0]
    return run_task(
        run_register,
        "pipeline",
        [
            *isolated_overrides(store),
            *LENIENT_GATE,
            f"register.model_dir={run / 'refit' / 'candidate'}",
            f"register.report_dir={run / 'evaluate' / 'report'}",
            *overrides,
        ],
        run_dir,
    ).value


def key_overrides(keys: Path) -> list[str]:
    return [
        f"registry.signing.private_key={keys / PRIVATE_KEY_FILE}",
        f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}",
    ]


def refusal(cfg: Any, tmp_path: Path) -> str:
    """The sentence opening the configured version is refused with."""
    with pytest.raises(ArtifactError) as caught:
        open_model(cfg, tmp_path / "open")
    return str(caught.value)


def pem_of(key: Any, password: bytes | None = None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
