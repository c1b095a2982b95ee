"""MLflow model registry: register a saved model folder, list, resolve version/alias, load.

The store is whatever `registry.tracking_uri` names: the embedded SQLite file locally, the
workspace's MLflow endpoint on Azure ML. Models are registered from their folder (logged as run
artifacts, then a version), never through `log_model`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockcast.errors import StockcastError

MODEL_HASH_TAG = "model_hash"
DEFAULT_EXPERIMENT = "stockcast-registry"
HASHED_FILES = ("artifacts/weights.safetensors", "artifacts/spec.json")


class RegistryError(StockcastError):
    """The registry cannot be reached, or has no such model, version or alias."""


def model_hash(model_dir: str | Path) -> str:
    """Hash of the weights and spec: the same trained model gives the same hash wherever it lies."""
    digest = hashlib.sha256()
    for name in HASHED_FILES:
        digest.update((Path(model_dir) / name).read_bytes())
    return digest.hexdigest()[:20]


@dataclass(frozen=True)
class VersionInfo:
    version: int
    aliases: tuple[str, ...]
    tags: dict[str, str]
    run_id: str | None
    source: str


def _sqlite_file(uri: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


def _local_path(uri: str) -> Path | None:
    """The filesystem path an artifact URI names, or None for remote stores."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None


def _require_store_plugin(uri: str) -> None:
    """`azureml://` stores need the azureml-mlflow plugin, installed only with the azure extra."""
    import importlib.util

    if uri.startswith("azureml:") and importlib.util.find_spec("azureml.mlflow") is None:
        raise RegistryError(
            f"the registry {uri.split('?')[0]} is an Azure ML workspace store, which needs the "
            "azureml-mlflow plugin; install it with: pip install -e '.[azure]'."
        )


class ModelRegistry:
    """One registered model name in one MLflow store."""

    def __init__(
        self,
        tracking_uri: str,
        model_name: str,
        registry_uri: str | None = None,
        artifact_location: str | None = None,
        experiment_name: str = DEFAULT_EXPERIMENT,
        create: bool = False,
    ) -> None:
        """`create=True` for writers (the register step): a missing SQLite store is created;
        readers are told it does not exist instead of silently getting an empty one."""
        self.tracking_uri = tracking_uri
        self.create = create
        self.registry_uri = registry_uri or tracking_uri
        self.model_name = model_name
        self.artifact_location = artifact_location
        self.experiment_name = experiment_name
        self._client: Any = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, create: bool = False) -> ModelRegistry:
        return cls(
            tracking_uri=cfg["tracking_uri"],
            model_name=cfg["model_name"],
            registry_uri=cfg.get("registry_uri"),
            artifact_location=cfg.get("artifact_location"),
            experiment_name=cfg.get("experiment_name") or DEFAULT_EXPERIMENT,
            create=create,
        )

    # -- connection ----------------------------------------------------------------------

    def client(self) -> Any:
        """An MlflowClient; reading a SQLite store that is not there is an error, not a new file."""
        if self._client is None:
            db = _sqlite_file(self.tracking_uri)
            if not self.create and db is not None and not db.is_file():
                raise RegistryError(
                    f"the model registry {self.tracking_uri} does not exist; register a model "
                    "first (make pipeline) or set registry.tracking_uri."
                )
            _require_store_plugin(self.tracking_uri)
            from mlflow import MlflowClient

            try:
                self._client = MlflowClient(self.tracking_uri, self.registry_uri)
                self._client.search_registered_models(max_results=1)
            except Exception as err:
                self._client = None
                raise RegistryError(
                    f"cannot reach the model registry at {self.tracking_uri} "
                    f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                    "check registry.tracking_uri."
                ) from None
        return self._client

    # -- reading -------------------------------------------------------------------------

    def registered_names(self) -> list[str]:
        return sorted(m.name for m in self.client().search_registered_models())

    def versions(self) -> list[VersionInfo]:
        """Every version of this model, newest first; [] when the name is not registered."""
        client = self.client()
        found = client.search_model_versions(f"name='{self.model_name}'")
        if not found:
            return []
        # Searches do not fill in aliases on every store; the registered model has them all.
        aliases: dict[int, list[str]] = {}
        for alias, version in (client.get_registered_model(self.model_name).aliases or {}).items():
            aliases.setdefault(int(version), []).append(alias)
        infos = [
            VersionInfo(
                version=int(v.version),
                aliases=tuple(sorted(aliases.get(int(v.version), []))),
                tags=dict(v.tags or {}),
                run_id=v.run_id,
                source=v.source,
            )
            for v in found
        ]
        return sorted(infos, key=lambda info: info.version, reverse=True)

    def describe(self) -> str:
        """What exists, for error messages."""
        versions = self.versions()
        if not versions:
            names = self.registered_names()
            return f"registered models here: {', '.join(names) if names else 'none'}"
        listed = ", ".join(
            f"{v.version}" + (f" ({', '.join(v.aliases)})" if v.aliases else "") for v in versions
        )
        return f"{self.model_name!r} has version(s) {listed}"

    def resolve(self, version: int | str | None = None, alias: str | None = None) -> VersionInfo:
        """A version by number, by alias, or the latest when neither is given."""
        versions = self.versions()
        if not versions:
            raise RegistryError(
                f"no registered model named {self.model_name!r} in {self.tracking_uri}; "
                f"{self.describe()}."
            )
        if version is not None and alias is not None:
            raise RegistryError("give model.version or model.alias, not both.")
        if alias is not None:
            match = [v for v in versions if alias in v.aliases]
            what = f"alias {alias!r}"
        elif version is not None:
            match = [v for v in versions if str(v.version) == str(version)]
            what = f"version {version}"
        else:
            return versions[0]
        if not match:
            raise RegistryError(f"model {self.model_name!r} has no {what}; {self.describe()}.")
        return match[0]

    def find_by_hash(self, digest: str) -> VersionInfo | None:
        return next((v for v in self.versions() if v.tags.get(MODEL_HASH_TAG) == digest), None)

    def champion(self, alias: str) -> VersionInfo | None:
        return next((v for v in self.versions() if alias in v.aliases), None)

    def model_uri(self, info: VersionInfo) -> str:
        return f"models:/{self.model_name}/{info.version}"

    def download(self, info: VersionInfo, dst: str | Path) -> Path:
        """A local folder with the version's model: the store's own folder when its artifacts are
        on this filesystem (nothing to copy), otherwise a copy kept in dst."""
        uri = self.client().get_model_version_download_uri(self.model_name, str(info.version))
        local = _local_path(uri)
        if local is not None and (local / "MLmodel").is_file():
            return local
        import mlflow
        from mlflow.artifacts import download_artifacts

        dst = Path(dst)
        dst.mkdir(parents=True, exist_ok=True)
        mlflow.set_registry_uri(self.registry_uri)
        mlflow.set_tracking_uri(self.tracking_uri)
        return Path(download_artifacts(artifact_uri=self.model_uri(info), dst_path=str(dst)))

    # -- writing -------------------------------------------------------------------------

    def register(
        self, model_dir: str | Path, tags: Mapping[str, Any], extra_artifacts: list[Path] = ()
    ) -> tuple[VersionInfo, bool]:
        """Register a model folder once: returns (version, created). The same weights -> same version."""
        import mlflow

        digest = model_hash(model_dir)
        existing = self.find_by_hash(digest)
        if existing is not None:
            return existing, False
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(self.experiment_name, self.artifact_location)
        )
        run = client.create_run(experiment_id, run_name=f"register-{self.model_name}")
        run_id = run.info.run_id
        client.log_artifacts(run_id, str(model_dir), "model")
        for path in extra_artifacts:
            client.log_artifact(run_id, str(path), "report")
        try:
            client.get_registered_model(self.model_name)
        except mlflow.exceptions.MlflowException:
            client.create_registered_model(self.model_name)
        all_tags = {key: str(value) for key, value in tags.items()} | {MODEL_HASH_TAG: digest}
        created = client.create_model_version(
            self.model_name, source=f"runs:/{run_id}/model", run_id=run_id, tags=all_tags
        )
        client.set_terminated(run_id)
        return self.resolve(version=created.version), True

    def set_champion(self, alias: str, info: VersionInfo) -> None:
        """Point the alias at this version; stores without aliases get a tag instead."""
        import mlflow

        client = self.client()
        try:
            client.set_registered_model_alias(self.model_name, alias, str(info.version))
        except mlflow.exceptions.MlflowException:
            client.set_model_version_tag(self.model_name, str(info.version), alias, "true")
