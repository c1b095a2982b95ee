"""A champion that cannot forecast, named as the monitor reports it: one the alias no longer
points at (its version deleted, or the alias taken off it), one whose files are damaged, and one
that does not open for another reason. Each sentence says which version, what follows from its
state, and what gives the alias a champion that forecasts again."""

from __future__ import annotations

from pathlib import Path

from stockcast.errors import ArtifactError, DamagedVersion, first_few
from stockcast.redaction import redacted_uri
from stockcast.registry.ledger import ChampionSeen, Ledger, ledger_path
from stockcast.registry.store import ModelRegistry, VersionInfo

SHOWN_VERSIONS = 5  # how many versions a message names


def last_champion(
    registry: ModelRegistry,
    alias: str,
    store: Path | None,
    ledger_dir: str | None,
    ledger_timeout_s: float,
) -> ChampionSeen | None:
    """The champion the monitor last saw, read from this store's ledger where one exists; none
    is made (nor a store that is not there)."""
    if (store is None and ledger_dir is None) or (store and not store.is_file()):
        return None
    path = ledger_path(ledger_dir, registry.tracking_uri)
    registered = registry.registered_stamp()
    if registered is None or not path.is_file():
        return None
    ledger = Ledger(path, ledger_timeout_s)
    if not ledger.of_store(registry.model_name, registered):
        return None
    history = ledger.champion_history(registry.model_name, alias)
    return history[-1] if history else None


def lost(registry: ModelRegistry, alias: str, seen: ChampionSeen) -> str:
    """The warning for a champion the monitor saw that the alias no longer points at: the alias
    was deleted with the version, or taken off it (not a store that never had a champion)."""
    held = [v.version for v in registry.versions()]
    if seen.model_version in held:
        return unaliased(registry, alias, seen)
    return deleted(registry, alias, seen, held)


def deleted(registry: ModelRegistry, alias: str, seen: ChampionSeen, held: list[int]) -> str:
    """The warning for a champion deleted from the store (MLflow drops the version's aliases
    with it): which, and what gives the alias a version again."""
    shown = first_few(held, SHOWN_VERSIONS)
    move = f"set the {alias} alias on a version the store holds ({shown}), or " if held else ""
    return (
        f"{registry.model_name} version {seen.model_version}, the {alias} the monitor last saw "
        f"(on {seen.seen_on}), is no longer in the store (deleted, and its {alias} alias with "
        f"it), so no forecast was stored; {move}run the pipeline on new data: a candidate that "
        f"passes the gate becomes the {alias}"
    )


def unaliased(registry: ModelRegistry, alias: str, seen: ChampionSeen) -> str:
    """The warning for a champion the store still holds whose alias was taken off it: which,
    and the command that sets the alias on it again."""
    version = seen.model_version
    command = (
        f'MLFLOW_TRACKING_URI={redacted_uri(registry.tracking_uri)} python -c "import mlflow; '
        f"mlflow.MlflowClient().set_registered_model_alias('{registry.model_name}', '{alias}', "
        f"'{version}')\""
    )
    return (
        f"{registry.model_name} version {version}, the {alias} the monitor last saw (on "
        f"{seen.seen_on}), is still in the store but no longer holds the {alias} alias (it was "
        f"removed), so no forecast was stored; set the alias on it again ({command}) or on "
        f"another version, or run the pipeline on new data: a candidate that passes the gate "
        f"becomes the {alias}"
    )


def damaged(
    registry: ModelRegistry,
    champion: VersionInfo,
    alias: str,
    err: DamagedVersion,
    by_candidates: bool = True,
    replaced: bool = False,
) -> str:
    """The warning for a champion whose files are damaged: what is wrong, and what replaces it
    (nothing more where a rollback has `replaced` it). A candidate replaces it only where the
    register step compares candidates with the champion (`by_candidates`:
    gate.require_beat_champion); otherwise the alias stays until it is moved."""
    damage = (
        f"{registry.label(champion)} ({alias}) is damaged: its files {err.how} ({err.detail}), "
        f"so no forecast {'of it ' * replaced}was stored, scored or judged"
    )
    if replaced:
        return damage
    way_out = (
        "run the pipeline on new data: a candidate that passes the gate replaces it"
        if by_candidates
        else f"move the {alias} alias to a version that opens (with "
        "gate.require_beat_champion=false no candidate replaces it; monitor.rollback=true moves "
        "it back to the previous champion that opens)"
    )
    return (
        f"{damage}, and predict and serve cannot open it either; register the model again from "
        f"its original folder, or {way_out}"
    )


def refused(registry: ModelRegistry, champion: VersionInfo, alias: str, err: ArtifactError) -> str:
    """The warning for a champion that does not open: the consequence first, then the reason
    and its fix, in the refusal's own words."""
    return (
        f"{registry.label(champion)} ({alias}) does not open, so no forecast was stored, scored "
        f"or judged, and predict and serve refuse it too: {str(err).rstrip('.')}"
    )
