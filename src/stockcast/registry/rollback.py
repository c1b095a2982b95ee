"""Roll the champion alias back to the previous champion the monitor saw, as one compare-and-set."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from stockcast.errors import ArtifactError
from stockcast.registry.ledger import ChampionSeen, Ledger
from stockcast.registry.store import ModelRegistry, VersionInfo
from stockcast.registry.versions import FLAGGED_TAG, HORIZON_TAG, ROLLBACK_TAG


def roll_back(
    alias: str,
    registry: ModelRegistry,
    ledger: Ledger,
    flagged: VersionInfo,
    reason: str,
    as_of: str,
    opens: Callable[[VersionInfo], Any] | None = None,
) -> dict[str, Any]:
    """Move the alias from `flagged` to the previous champion, under the store's write lock and
    only if the alias still points at `flagged` (another run may have moved it meanwhile).

    A previous champion that `opens` refuses (an ArtifactError: its files no longer match their
    hash, the public key refuses its signature, it does not load), or that the store no longer
    holds (deleted), is passed over for the one before it: moved onto it, the alias would leave
    predict, serve and the monitor with a champion none of them can open, where the flagged one
    still forecast. The versions are opened before the lock is taken (a download, a hash and a
    load can take long, and a register step waits on that lock), and the choice is made again
    under it."""
    chosen, refused = _previous_champion_that_opens(alias, registry, ledger, flagged, opens)
    if isinstance(chosen, str):
        return {"done": False, "reason": chosen}
    with registry.writing():
        again, _ = _previous_champion_that_opens(alias, registry, ledger, flagged, None, refused)
        if isinstance(again, str):
            return {"done": False, "reason": again}
        if again.version != chosen.version:
            return {
                "done": False,
                "reason": f"the {alias} alias's history changed meanwhile; nothing rolled back",
            }
        registry.client().set_model_version_tag(
            registry.model_name, str(flagged.version), ROLLBACK_TAG, f"{as_of}: {reason}"
        )
        registry.promote(alias, chosen)
    ledger.record_champion(
        registry.model_name, alias, chosen.version, as_of, f"rollback from {flagged.version}"
    )
    done = {"done": True, "from": flagged.version, "to": chosen.version, "reason": reason}
    passed_over = {str(version): text for version, text in refused.items()}
    return done | ({"passed_over": passed_over} if refused else {})


def _previous_champion_that_opens(
    alias: str,
    registry: ModelRegistry,
    ledger: Ledger,
    flagged: VersionInfo,
    opens: Callable[[VersionInfo], Any] | None,
    refused_before: dict[int, str] | None = None,
) -> tuple[VersionInfo | str, dict[int, str]]:
    """The latest previous champion of the flagged one's horizon that no monitor judged and
    that `opens` (skipping those `refused_before`), or why there is none; and the versions
    `opens` refused, with why."""
    versions = {v.version: v for v in registry.versions()}
    current = next((v for v in versions.values() if alias in v.aliases), None)
    if current is None or current.version != flagged.version:
        return f"the {alias} alias moved meanwhile; nothing rolled back", {}
    # Neither a version rolled back or flagged before (while monitor.rollback was off) nor a
    # champion of another horizon (from before data.next_time_window changed), whose forecasts
    # would have the wrong length.
    horizon = current.tags.get(HORIZON_TAG)
    other_horizon = {
        v.version for v in versions.values() if v.tags.get(HORIZON_TAG, horizon) != horizon
    }
    judged = {ROLLBACK_TAG, FLAGGED_TAG}
    excluded = other_horizon | {v.version for v in versions.values() if judged & set(v.tags)}
    history = ledger.champion_history(registry.model_name, alias)
    refused = dict(refused_before or {})
    while True:
        target = previous_champion(history, flagged.version, excluded | set(refused))
        if target is not None and target not in versions:
            # A champion the history names that the store no longer holds is no target: passed
            # over as one that does not open, so the report names it rather than saying there
            # was no previous champion.
            refused[target] = f"version {target} was deleted from the store"
            continue
        if target is None or opens is None:
            break
        try:
            opens(versions[target])
            break
        except ArtifactError as err:
            refused[target] = str(err).rstrip(".")
    if target is not None:
        return versions[target], refused
    same = f" forecasting {horizon} values" if other_horizon else ""
    opened = " that opens" if refused else ""
    seen = {h.model_version for h in history} - {flagged.version}
    judged_before = sorted(seen & (excluded - other_horizon))
    reasons = [
        *refused.values(),
        *(f"the monitor flagged version {version} before" for version in judged_before),
    ]
    why = f" ({'; '.join(reasons)})" if reasons else ""
    return f"no previous champion{same}{opened} to roll back to{why}", refused


def mark_flagged(registry: ModelRegistry, flagged: VersionInfo, as_of: str, reason: str) -> None:
    """Tag a champion the monitor flagged with the first day it was and why (`FLAGGED_TAG`), so
    that no rollback restores it later, whether or not this run rolls it back."""
    if FLAGGED_TAG in flagged.tags:
        return
    with registry.writing():
        registry.client().set_model_version_tag(
            registry.model_name, str(flagged.version), FLAGGED_TAG, f"{as_of}: {reason}"
        )


def previous_champion(
    history: Sequence[ChampionSeen], current: int, excluded: Iterable[int] = ()
) -> int | None:
    """The latest champion before `current` that is neither `current` nor `excluded` (e.g.
    versions already rolled back)."""
    skip = {int(current), *map(int, excluded)}
    for seen in reversed(history):
        if seen.model_version not in skip:
            return seen.model_version
    return None
