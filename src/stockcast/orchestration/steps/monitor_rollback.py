"""The monitor's rollback: the champion alias back to the previous champion that opens (from a
decayed champion, or one whose files are damaged), and the restored version's forecast of the
day stored in the ledger, so the day's ledger holds the champion that serves."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from stockcast.errors import ArtifactError, DataError
from stockcast.prediction.ledger_forecast import store_champion_forecast
from stockcast.registry.ledger import Ledger
from stockcast.registry.rollback import roll_back
from stockcast.registry.store import ModelRegistry, VersionInfo
from stockcast.serving.model import check_version_opens

log = logging.getLogger(__name__)


def restore_previous(
    alias: str,
    registry: ModelRegistry,
    ledger: Ledger,
    champion: VersionInfo,
    reason: str,
    as_of: str,
    observed: list[Any],
    output: Path,
) -> tuple[dict[str, Any], int]:
    """Roll the alias back from `champion` to the previous champion that opens, and store the
    restored version's forecast of the day: (the rollback's report, forecasts stored)."""
    rollback = roll_back(
        alias,
        registry,
        ledger,
        champion,
        reason,
        as_of,
        opens=lambda version: check_version_opens(registry, version, output / "rollback_check"),
    )
    if not rollback["done"]:
        return rollback, 0
    restored = registry.resolve(version=rollback["to"])
    try:
        return rollback, store_champion_forecast(ledger, registry, restored, observed, output)
    except (ArtifactError, DataError) as err:
        # The alias has moved already: the report says so, and why no forecast of the restored
        # version was stored today (its folder, or a guard refusing its forecast; the next run
        # stores one, or says again why).
        rollback["forecast"] = str(err).rstrip(".")
        log.warning("no forecast of the restored version %s: %s", rollback["to"], err)
        return rollback, 0


def rollback_outcome(rollback: dict[str, Any], alias: str) -> str:
    """What a rollback did, or why it did not, as the end of the monitor's message."""
    # `to` exists only where the rollback was done.
    done = rollback["done"] and f"{alias} rolled back to version {rollback['to']}"
    passed = "; ".join(rollback.get("passed_over", {}).values())
    return f"; {done or rollback['reason']}" + (f", passing over ({passed})" if passed else "")
