"""The status a monitor run ends with, and the days it skips: undated data (no forecast can be
matched with the days it targets), and a rerun of an earlier day (data that ends before the
champion's, or before the last day the forecast ledger holds), where nothing is stored, scored or
judged."""

from __future__ import annotations

from typing import Any

from stockcast.data.calendar import later_than
from stockcast.registry.freshness import later_data_end
from stockcast.registry.store import ModelRegistry, VersionInfo

OK, FLAGGED, ROLLED_BACK = "ok", "flagged", "rolled back"
NO_CHAMPION, SKIPPED = "no champion", "skipped"
# The champion's registered files are damaged: nothing can forecast with it until it is replaced.
DAMAGED = "damaged champion"
# The champion does not open for another reason (its signature, or the key it was signed with):
# predict and serve refuse it the same way.
REFUSED = "refused champion"


def undated(prepared: str) -> str:
    """Why data without dates (the `prepared` folder, as shown) is skipped."""
    return (
        "the monitor needs dated data to match forecasts with the days they target, and "
        f"{prepared} has none; use a dated source (e.g. data=csv with a date column)"
    )


def before_champion_data(
    last_date: object, registry: ModelRegistry, champion: VersionInfo, alias: str
) -> str | None:
    """Why data that ends before the champion's (`last_date`) is skipped, or None where it does
    not: the champion's forecasts from there would be scored on values it was fitted on, and
    its live score judged as of a day it had already seen."""
    champion_end = later_data_end(last_date, champion)
    if champion_end is None:
        return None
    return (
        f"the data ends on {last_date}, before the data of {registry.label(champion)} ({alias}), "
        f"which ends on {champion_end}, so nothing was stored, scored or judged; monitor it on "
        "data of that day or later"
    )


def before_ledger_day(as_of: str, last_day: str | None, model_name: str) -> str | None:
    """Why data that ends before `last_day`, the last day the forecast ledger holds, is skipped,
    or None where it does not: the ledger holds later days' forecasts and champions, and today's
    champion would be judged, and store a forecast, as of a day it may not have been champion
    on."""
    if not later_than(last_day, as_of):
        return None
    return (
        f"the data ends on {as_of}, before {last_day}, the last day the forecast ledger holds of "
        f"{model_name}, so nothing was stored, scored or judged; monitor it on data of that day "
        "or later"
    )


def skipped_day(champion: VersionInfo, message: str) -> dict[str, Any]:
    """The report's fields for a rerun of an earlier day: nothing stored, scored or judged."""
    return {"champion": champion.version, "status": SKIPPED, "message": message}
