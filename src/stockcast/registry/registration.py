"""Registering a model folder as a version, once: the same files give the same version.

The folder is logged as a run's artifacts from one private copy (what is logged, hashed and
signed are the very same bytes), then the version is created with the folder's hash and file
manifest and, for a promotion, a pending promotion tag, which `ModelRegistry.promote` settles.
The crash points mark what a rerun finds after a kill at each phase.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from stockcast.registry.faults import crash_point
from stockcast.registry.integrity import private_copy
from stockcast.registry.repair import VersionStore, sign_again, version_holding
from stockcast.registry.run_names import run_name
from stockcast.registry.runs import logged_run, prepare_store
from stockcast.registry.signing import check_signing_keys
from stockcast.registry.versions import (
    MANIFEST_TAG,
    MODEL_HASH_TAG,
    PENDING,
    PROMOTION_TAG,
    VersionInfo,
)


class RegisteringStore(VersionStore, Protocol):
    """What registering reads and writes of a store (`ModelRegistry`, which calls it)."""

    tracking_uri: str
    model_name: str
    artifact_location: str | None
    experiment_name: str

    def client(self) -> Any: ...

    def resolve(self, version: int | str | None = None) -> VersionInfo: ...


def ensure_registered_model(client: Any, model_name: str) -> None:
    """Create the registered model where the store has none yet."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model_name)
    except MlflowException:
        try:
            client.create_registered_model(model_name)
        except MlflowException:  # created by a rival in between: fine if it now exists
            client.get_registered_model(model_name)


def register_folder(
    registry: RegisteringStore,
    model_dir: str | Path,
    tags: Mapping[str, Any],
    extra_artifacts: Sequence[Path],
    promote: bool,
    run_tags: Mapping[str, str] | None,
    day: str | None,
) -> tuple[VersionInfo, bool]:
    """`ModelRegistry.register`: (version, created), inside the store's `writing()`."""
    # What is logged, hashed and signed is one private copy: the very same bytes.
    model_dir, contents = private_copy(model_dir)
    check_signing_keys(registry.keys)
    held = version_holding(registry, contents.digest)
    if held is not None:
        sign_again(registry, held, model_dir)
        return held.info, False
    client = registry.client()
    experiment_id = prepare_store(
        registry.tracking_uri, registry.experiment_name, registry.artifact_location
    )
    name = run_name("register", registry.model_name, *([day] if day else []))
    # FAILED where logging, signing or the version is refused: not left RUNNING.
    with logged_run(client, experiment_id, name, run_tags) as run_id:
        client.log_artifacts(run_id, str(model_dir), "model")
        if registry.keys.private_key:
            registry.log_signature(run_id, model_dir)
        for path in extra_artifacts:
            client.log_artifact(run_id, str(path), "report")
        crash_point("before_version")
        ensure_registered_model(client, registry.model_name)
        all_tags = {key: str(value) for key, value in tags.items()} | {
            MODEL_HASH_TAG: contents.digest,
            MANIFEST_TAG: contents.manifest(),
        }
        if promote:
            all_tags[PROMOTION_TAG] = PENDING
        created = client.create_model_version(
            registry.model_name, source=f"runs:/{run_id}/model", run_id=run_id, tags=all_tags
        )
    crash_point("after_version")
    return registry.resolve(version=created.version), True
