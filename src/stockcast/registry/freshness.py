"""Has the data advanced since the last registered model? (`data.require_new_data`)

"The previous run's last date" lives on the registry, so it is the same locally and on Azure ML:
the register step tags every new version with `data_last_date`, `data_as_of`, `data_points` and
`data_hash`, and prepare reads the tags of the newest version of `registry.model_name`. No
registry or no version yet means a first run, which is always allowed. A version without
`data_last_date` is judged by its `data_as_of`: its data held nothing after that day. Data that
ends on the same last date is new where it holds more values: a panel's ticker whose row of
that day arrived after the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stockcast.errors import DataError
from stockcast.registry.lock import sqlite_file
from stockcast.registry.store import ModelRegistry

LAST_DATE_TAG = "data_last_date"
AS_OF_TAG = "data_as_of"
HASH_TAG = "data_hash"
POINTS_TAG = "data_points"


@dataclass(frozen=True)
class PreviousData:
    """Where the newest registered version's data ended: its `date` (the value of `tag`) and
    how many values it held (`points`; None for a version from before the tag)."""

    version: int
    tag: str
    date: str
    points: int | None


def data_tags(model_metadata: Mapping[str, Any], data_hash: str) -> dict[str, str]:
    """The data tags of a new version, from what the model recorded about its training data.

    The as_of comes from the recorded data config; the last date when the model recorded it
    (`data_last_date`), else it is left out and the version is judged by its as_of.
    """
    source = model_metadata.get("data_source") or {}
    as_of = model_metadata.get("data_as_of") or source.get("as_of")
    last_date = model_metadata.get("data_last_date")
    points = model_metadata.get("data_points")
    tags = {HASH_TAG: data_hash, AS_OF_TAG: as_of, LAST_DATE_TAG: last_date, POINTS_TAG: points}
    return {key: str(value) for key, value in tags.items() if value}


def previous_data(registry_cfg: Mapping[str, Any]) -> PreviousData | None:
    """Where the newest registered version's data ended, or None on a first run.

    The date is its `data_last_date`, else its `data_as_of`; None too when it carries neither.
    """

    db = sqlite_file(str(registry_cfg["tracking_uri"]))
    if db is not None and not db.is_file():
        return None
    versions = ModelRegistry.from_config(registry_cfg).versions()
    if not versions:
        return None
    newest = versions[0]
    points = newest.tags.get(POINTS_TAG)
    for tag in (LAST_DATE_TAG, AS_OF_TAG):
        if newest.tags.get(tag):
            return PreviousData(
                newest.version, tag, newest.tags[tag], int(points) if points else None
            )
    return None


def check_new_data(meta: Mapping[str, Any], registry_cfg: Mapping[str, Any]) -> None:
    """Refuse data whose last date is not after the newest registered version's, unless it ends
    on that same date with more values than that version's data held."""
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
    points = meta.get("n_points")
    same_end = previous.tag == LAST_DATE_TAG and str(last) == previous.date
    if same_end and previous.points is not None and points is not None:
        if int(points) > previous.points:
            return
        held = f" and holds {points} values, no more than its {previous.points}"
    else:
        held = ""
    what = "last date" if previous.tag == LAST_DATE_TAG else "as_of"
    lag = meta.get("release_lag_days")
    seen = f"data.as_of={meta.get('as_of')}" + (f", data.release_lag_days={lag}" if lag else "")
    raise DataError(
        f"no new data: it ends on {last} ({seen}), not after {previous.date}, the {what} of "
        f"{registry_cfg['model_name']} version {previous.version}'s data{held}; run again when "
        "newer data has arrived, or set data.require_new_data=false."
    )
