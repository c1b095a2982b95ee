"""Roll the champion alias back to the previous champion the monitor saw, as one compare-and-set."""

from __future__ import annotations

from typing import Any

from stockcast.registry.ledger import Ledger, previous_champion
from stockcast.registry.store import ModelRegistry, VersionInfo
from stockcast.registry.versions import HORIZON_TAG, ROLLBACK_TAG


def roll_back(
    alias: str,
    registry: ModelRegistry,
    ledger: Ledger,
    flagged: VersionInfo,
    reason: str,
    as_of: str,
) -> dict[str, Any]:
    """Move the alias from `flagged` to the previous champion, under the store's write lock and
    only if the alias still points at `flagged` (another run may have moved it meanwhile)."""
    with registry.writing():
        versions = {v.version: v for v in registry.versions()}
        current = next((v for v in versions.values() if alias in v.aliases), None)
        if current is None or current.version != flagged.version:
            return {
                "done": False,
                "reason": f"the {alias} alias moved meanwhile; nothing rolled back",
            }
        # Neither a version rolled back before nor a champion of another horizon (from before
        # data.next_time_window changed), whose forecasts would have the wrong length.
        horizon = current.tags.get(HORIZON_TAG)
        other_horizon = {
            v.version for v in versions.values() if v.tags.get(HORIZON_TAG, horizon) != horizon
        }
        excluded = other_horizon | {v.version for v in versions.values() if ROLLBACK_TAG in v.tags}
        history = ledger.champion_history(registry.model_name, alias)
        target = previous_champion(history, flagged.version, excluded)
        if target is None or target not in versions:
            same = f" forecasting {horizon} values" if other_horizon else ""
            return {"done": False, "reason": f"no previous champion{same} to roll back to"}
        registry.client().set_model_version_tag(
            registry.model_name, str(flagged.version), ROLLBACK_TAG, f"{as_of}: {reason}"
        )
        registry.promote(alias, versions[target])
    ledger.record_champion(
        registry.model_name, alias, target, as_of, f"rollback from {flagged.version}"
    )
    return {"done": True, "from": flagged.version, "to": target, "reason": reason}
