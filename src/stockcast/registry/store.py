"""MLflow model registry: register a saved model folder, list, resolve version/alias, load.

The store is whatever `registry.tracking_uri` names: the embedded SQLite file locally, the
workspace's MLflow endpoint on Azure ML. Models are registered from their folder (logged as run
artifacts, then a version), never through `log_model`.

Writers hold the store (`writing()`: a file lock locally, a tag lease remotely) for a whole
compare-and-set: look the model up by hash, create the version (registry/registration.py), move
the champion alias. A version records its folder's hash and file manifest (checked before it is
loaded, by registry/verified.py), is signed with `registry.signing.private_key` when one is set,
and, until its alias has moved, records a pending promotion, so a rerun after a crash finishes
what the crash cut short.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stockcast.redaction import redacted_uri
from stockcast.registry.alias_tags import (
    ALIASES_NOT_KEPT,
    aliases_by_version,
    drop_alias_tag,
    move_alias_tag,
)
from stockcast.registry.artifacts import version_folder
from stockcast.registry.connection import RegistryError, open_client
from stockcast.registry.faults import crash_point
from stockcast.registry.lock import TagLease, sqlite_file, store_lock
from stockcast.registry.registration import ensure_registered_model, register_folder
from stockcast.registry.runs import close_orphaned_runs
from stockcast.registry.signing import SigningKeys, signature_for
from stockcast.registry.verified import verified_folder
from stockcast.registry.versions import DECLINED, PROMOTION_TAG, SETTLED, VersionInfo

# VersionInfo is the store's answer: callers take both from here.
__all__ = ["ModelRegistry", "VersionInfo"]

DEFAULT_EXPERIMENT = "stockcast-registry"
NO_KEYS = SigningKeys()


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
        keys: SigningKeys = NO_KEYS,
    ) -> None:
        """`create=True` for writers (the register step): a missing SQLite store is created;
        readers are told it does not exist instead of silently getting an empty one."""
        self.tracking_uri = tracking_uri
        self.create = create
        self.registry_uri = registry_uri or tracking_uri
        self.model_name = model_name
        self.artifact_location = artifact_location
        self.experiment_name = experiment_name
        self.keys = keys
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
            keys=SigningKeys.from_config(cfg.get("signing")),
        )

    # -- connection ----------------------------------------------------------------------

    def client(self) -> Any:
        """An MlflowClient; reading a SQLite store that is not there is an error, not a new file.

        The first open happens under the store lock: on a fresh SQLite store it creates MLflow's
        tables, which several processes cannot do at once.
        """
        if self._client is None:
            self._client = open_client(self.tracking_uri, self.registry_uri, self.create)
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
        held = client.get_registered_model(self.model_name).aliases or {}
        aliases = aliases_by_version(found, held)
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

    def resolve(
        self,
        version: int | str | None = None,
        alias: str | None = None,
        fallback_alias: str | None = None,
    ) -> VersionInfo:
        """A version by number, by alias, or when neither is given the one holding
        `fallback_alias`, else the latest."""
        versions = self.versions()
        if not versions:
            # `make train` alone registers nothing: say what does.
            raise RegistryError(
                f"no registered model named {self.model_name!r} in {redacted_uri(self.tracking_uri)} "
                f"({self.describe()}); register one with the pipeline of the experiment that "
                'names it (make pipeline ARGS="experiment=<name>" trains, evaluates and '
                "registers), or set registry.tracking_uri to a store that holds one."
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
            held = [v for v in versions if fallback_alias and fallback_alias in v.aliases]
            return (held or versions)[0]
        if not match:
            raise RegistryError(f"model {self.model_name!r} has no {what}; {self.describe()}.")
        return match[0]

    def champion(self, alias: str) -> VersionInfo | None:
        return next((v for v in self.versions() if alias in v.aliases), None)

    def registered_stamp(self) -> str | None:
        """When this store registered the model (milliseconds since 1970, as text), None where
        it has not, or where the store does not say (a remote registry may leave the time
        out): two stores' models of one name differ by it, which the forecast ledger tells them
        apart by (`Ledger.claim_store`; with None nothing is claimed)."""
        from mlflow.exceptions import MlflowException

        try:
            created = self.client().get_registered_model(self.model_name).creation_timestamp
        except MlflowException:
            return None
        return None if created is None else str(int(created))

    def label(self, info: VersionInfo) -> str:
        return f"{self.model_name} version {info.version}"

    def download(self, info: VersionInfo, dst: str | Path) -> Path:
        """A local folder with the version's model: the store's own folder when its artifacts are
        on this filesystem (nothing to copy), otherwise a copy kept in dst. Unverified: load it
        with `verified_folder()`."""
        return version_folder(
            self.client(), self.tracking_uri, self.registry_uri, self.model_name, info.version, dst
        )

    def verified_folder(self, info: VersionInfo, workdir: str | Path) -> tuple[Path, str]:
        """A private copy of the version's folder and its hash, checked against its registered
        hash and, with `registry.signing.public_key`, its signature: the only copy anything may
        load or read (registry/verified.py)."""
        return verified_folder(self, info, workdir)

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store for one compare-and-set; closes the runs of killed writers first."""
        client = self.client()
        if sqlite_file(self.tracking_uri) is not None:
            held = store_lock(self.tracking_uri)
        else:
            ensure_registered_model(client, self.model_name)
            held = TagLease(client, self.model_name).held()
        with held:
            experiment = client.get_experiment_by_name(self.experiment_name)
            if experiment is not None:
                close_orphaned_runs(client, [experiment.experiment_id])
            yield

    def register(
        self,
        model_dir: str | Path,
        tags: Mapping[str, Any],
        extra_artifacts: Sequence[Path] = (),
        promote: bool = False,
        run_tags: Mapping[str, str] | None = None,
        day: str | None = None,
    ) -> tuple[VersionInfo, bool]:
        """Register a model folder once: returns (version, created). Call inside `writing()`.

        The same files give the same version. `promote` records a pending promotion on the new
        version, settled by `promote()`: a crash in between leaves it for the rerun to finish.
        `run_tags` go on the run that logs the folder (the config's labels); `day`, the day of
        the model's data, ends its name (`register-<model>-<day>`), as a training run's does
        (registry/registration.py).
        """
        return register_folder(self, model_dir, tags, extra_artifacts, promote, run_tags, day)

    def log_signature(self, run_id: str, model_dir: Path) -> None:
        """`model.sig` of `model_dir`, into the run's `model/` folder: the version's folder."""
        assert self.keys.private_key is not None
        with signature_for(model_dir, self.keys.private_key, self.keys.public_key) as signature:
            self.client().log_artifact(run_id, str(signature), "model")

    def promote(self, alias: str, info: VersionInfo) -> None:
        """Point the alias at this version, then settle. A store that keeps no aliases (its
        server has no such endpoint) gets it as a tag (`alias_tags`), which the rerun of a
        promotion cut short finishes moving. Any other failure is raised, and the promotion
        stays pending for the rerun."""
        import mlflow

        client = self.client()
        try:
            client.set_registered_model_alias(self.model_name, alias, str(info.version))
        except mlflow.exceptions.MlflowException as err:
            if err.error_code not in ALIASES_NOT_KEPT:
                raise
            move_alias_tag(client, self.model_name, alias, info.version)
        crash_point("after_alias")
        self.settle(info)

    def decline(self, alias: str, info: VersionInfo) -> None:
        """Settle a pending promotion as declined, without the alias tag a promotion cut short
        may have given the version on a store that keeps no aliases."""
        drop_alias_tag(self.client(), self.model_name, alias, info.version, info.tags)
        self.settle(info, declined=True)

    def settle(self, info: VersionInfo, declined: bool = False) -> None:
        """Mark a pending promotion as dealt with: done, or `declined` after a fresh comparison
        (the version never held the alias)."""
        if info.promotion_pending:
            self.client().set_model_version_tag(
                self.model_name, str(info.version), PROMOTION_TAG, DECLINED if declined else SETTLED
            )
