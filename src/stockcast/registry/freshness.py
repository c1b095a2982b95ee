"""Has the data advanced since the last registered model? (`data.require_new_data`)

"The previous run's last date" lives on the registry, so it is the same locally and on Azure ML:
the register step tags every new version with `data_last_date`, `data_as_of`,
`data_series_at_last_date` and `data_hash`, and prepare reads the tags of every version of
`registry.model_name` for the latest end. No registry or no version yet means a first run, which
is always allowed. A version without `data_last_date` is judged by its `data_as_of`: its data
held nothing after that day. Data that ends on the same last date is new where more of its
series reach that day: a panel's ticker whose row of the day arrived after the run (whether the
file keeps every row or only each ticker's latest ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stockcast.errors import DataError
from stockcast.registry.lock import sqlite_file
from stockcast.registry.store import ModelRegistry, VersionInfo

LAST_DATE_TAG = "data_last_date"
AS_OF_TAG = "data_as_of"
HASH_TAG = "data_hash"
SERIES_AT_END_TAG = "data_series_at_last_date"


@dataclass(frozen=True)
class PreviousData:
    """Where a registered version's data ended: its `date` (the value of `tag`) and
    how many of its series reached that day (`series`; None for a version from before the
    tag)."""

    version: int
    tag: str
    date: str
    series: int | None
    # Its promotion to champion left pending by a register step killed after registering it.
    pending: bool = False


def data_tags(model_metadata: Mapping[str, Any], data_hash: str) -> dict[str, str]:
    """The data tags of a new version, from what the model recorded about its training data.

    The as_of comes from the recorded data config; the last date when the model recorded it
    (`data_last_date`), else it is left out and the version is judged by its as_of.
    """
    source = model_metadata.get("data_source") or {}
    as_of = model_metadata.get("data_as_of") or source.get("as_of")
    last_date = model_metadata.get("data_last_date")
    at_end = model_metadata.get("data_series_at_last_date")
    tags = {
        HASH_TAG: data_hash,
        AS_OF_TAG: as_of,
        LAST_DATE_TAG: last_date,
        SERIES_AT_END_TAG: at_end,
    }
    return {key: str(value) for key, value in tags.items() if value}


def later_data_end(last_date: object, version: VersionInfo) -> str | None:
    """`version`'s data last date where it is after `last_date` (this run's data is of an
    earlier day: a rerun with data.require_new_data=false), else None."""
    theirs = version.tags.get(LAST_DATE_TAG)
    if not last_date or not theirs or str(last_date) >= theirs:
        return None
    return theirs


def previous_data(registry_cfg: Mapping[str, Any]) -> PreviousData | None:
    """Where the registered versions' data ended latest, or None on a first run (or where no
    version carries a date).

    A version's date is its `data_last_date`, else its `data_as_of`. The latest end, not the
    newest version's: a rerun of an earlier day (data.require_new_data=false) registers a
    version whose data ends before its predecessors', and the day after it is no new data.
    """

    db = sqlite_file(str(registry_cfg["tracking_uri"]))
    if db is not None and not db.is_file():
        return None
    ends = [end for v in ModelRegistry.from_config(registry_cfg).versions() if (end := _end(v))]
    # The latest date; on the same day, the most series reaching it, then the newest version.
    return max(ends, key=lambda end: (end.date, end.series or 0, end.version), default=None)


def _end(version: VersionInfo) -> PreviousData | None:
    """Where `version`'s data ended, by its tags; None where it carries no date."""
    at_end = version.tags.get(SERIES_AT_END_TAG, "")
    for tag in (LAST_DATE_TAG, AS_OF_TAG):
        if version.tags.get(tag):
            series = int(at_end) if at_end.isdigit() else None
            return PreviousData(
                version.version, tag, version.tags[tag], series, version.promotion_pending
            )
    return None


def check_new_data(meta: Mapping[str, Any], registry_cfg: Mapping[str, Any]) -> None:
    """Refuse data whose last date is not after the latest one any registered version's data
    ended on (`previous_data`), unless it ends on that same date with more of its series
    reaching it than that version's data had."""
    previous = previous_data(registry_cfg)
    if previous is None:
        return
    last = meta.get("last_date")
    if last is None:
        raise DataError(
            "data.require_new_data=true, but the data has no dates to compare with version "
            f"{previous.version} of {registry_cfg['model_name']}; give the file a date column "
            "(data.date_column) or set data.require_new_data=false."
        )
    if str(last) > previous.date:
        return
    at_end = meta.get("series_at_last_date")
    same_end = previous.tag == LAST_DATE_TAG and str(last) == previous.date
    if same_end and previous.series is not None and at_end is not None:
        if int(at_end) > previous.series:
            return
        held = (
            f", and no more of its series end on that day ({at_end}) than then ({previous.series})"
        )
    else:
        held = ""
    what = "last date" if previous.tag == LAST_DATE_TAG else "as_of"
    lag = meta.get("release_lag_days")
    seen = f"data.as_of={meta.get('as_of')}" + (f", data.release_lag_days={lag}" if lag else "")
    if previous.pending:
        # The day was registered by a run killed inside its register step: training it again
        # would register it twice, and the version's promotion would stay pending for good.
        raise DataError(
            f"no new data: it ends on {last} ({seen}), not after {previous.date}, the {what} of "
            f"{registry_cfg['model_name']} version {previous.version}'s data, which a register "
            "step stopped before its promotion to champion was settled; run the register step "
            "alone on the run that registered it (python -m stockcast.orchestration.steps."
            "register with that run's overrides, register.model_dir=<run>/refit/candidate and "
            "register.report_dir=<run>/evaluate/report), which completes it, then its monitor "
            "step alone; data.require_new_data=false would register this day a second time."
        )
    raise DataError(
        f"no new data: it ends on {last} ({seen}), not after {previous.date}, the {what} of "
        f"{registry_cfg['model_name']} version {previous.version}'s data{held}; run again when "
        "newer data has arrived, register other data under a registry.model_name of its own, "
        "or set data.require_new_data=false."
    )
