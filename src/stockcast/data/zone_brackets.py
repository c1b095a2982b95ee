"""Times written in RFC 9557's layout: an RFC 3339 time with its UTC offset, then its zone's
IANA name in brackets (`2024-03-08T09:30:00-05:00[America/New_York]`, as java.time and
JavaScript's Temporal write them), and any `[key=value]` tags after it (`[u-ca=gregory]`, its
calendar). RFC 3339's `t` and `z` may be lowercase.

pandas reads no bracket. The offset alone says the instant, so the bracket is checked against
it (the zone's offset at that instant, by zoneinfo) and dropped: a zone that disagrees with its
offset means one of them is wrong, and which is not known. `Z` or `-00:00` before a bracket
gives the instant in UTC with the local offset unknown (RFC 9557), so there is nothing to check.
A tag says nothing of the instant either, and is dropped unread, except a critical one (`[!...]`),
which a reader must understand or refuse: only the ISO calendar's is understood here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# A suffix tag's key and value as RFC 9557 spells them: a lowercase key, alphanumeric values.
TAG = r"\[!?[a-z_][a-z0-9_-]*=[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\]"
RFC_9557 = re.compile(
    r"^\s*(?P<time>\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})(?:\[!?(?P<zone>[^\[\]=]+)\])?"
    rf"(?P<tags>(?:{TAG})*)\s*$"
)
# The critical tags understood here: the ISO calendar's, in which RFC 3339 writes every time.
READ_CRITICAL_TAGS = r"\[!u-ca=(?:iso8601|gregory)\]"
CRITICAL_TAG = r"\[!([^\[\]]+)\]"
# Offsets that give the instant in UTC and no local offset to check a zone against.
NO_LOCAL_OFFSET = ("Z", "-00:00")
LAYOUT = "2024-03-08T09:30:00-05:00[America/New_York]"
MINUTES_PER_HOUR = 60


def offset_text(minutes: float) -> str:
    """A UTC offset in minutes as RFC 3339 writes it: -300 is -05:00."""
    hours, rest = divmod(abs(int(minutes)), MINUTES_PER_HOUR)
    return f"{'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d}"


def drop_zone_brackets(column: Any, refuse: Callable[[Any, str], None]) -> Any:
    """The column with each RFC 9557 time's zone bracket checked and dropped (the time and its
    offset kept); other cells as they are. `refuse(label, why)` raises for the cell at `label`:
    a bracket outside the layout, a zone zoneinfo does not know, or one whose offset at that
    instant is not the one written."""
    import pandas as pd

    text = column[column.map(lambda value: isinstance(value, str))].astype(str)
    bracketed = text[text.str.contains("[", regex=False)]
    if bracketed.empty:
        return column
    parts = bracketed.str.extract(RFC_9557)
    unread = parts["time"].isna()
    if unread.any():
        refuse(
            unread.idxmax(),
            "with a bracket that is not read: only a time with its UTC offset, then its zone "
            f"in brackets ({LAYOUT}), is; write it so, or with its UTC offset alone "
            "(2024-03-08T09:30:00-05:00)",
        )
    critical = (
        parts["tags"].str.replace(READ_CRITICAL_TAGS, "", regex=True).str.extract(CRITICAL_TAG)[0]
    )
    if critical.notna().any():
        at = critical.notna().idxmax()
        refuse(
            at,
            f"with the critical tag [!{critical[at]}], which is not read: only the ISO "
            "calendar's ([!u-ca=iso8601] or [!u-ca=gregory]) is; drop the tag or its '!'",
        )
    zones = {}
    for name in parts["zone"].dropna().unique():
        try:
            zones[name] = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            refuse(
                (parts["zone"] == name).idxmax(),
                f"with {name!r} in brackets, which names no time zone; write the zone's IANA "
                "name (America/New_York), or leave the bracket out: the UTC offset says the time",
            )
    # RFC 3339's lowercase t and z as pandas reads them.
    parts["time"] = parts["time"].str.replace("t", "T", regex=False)
    parts["offset"] = parts["offset"].str.upper()
    kept = parts["time"] + parts["offset"]
    instants = pd.to_datetime(kept, utc=True, format="ISO8601", errors="coerce")
    checked = ~parts["offset"].isin(NO_LOCAL_OFFSET) & instants.notna()
    written = _minutes(parts["offset"].where(checked))
    for name, zone in zones.items():
        mine = checked & (parts["zone"] == name)
        if not mine.any():
            continue
        utc = instants[mine]
        local = utc.dt.tz_convert(zone).dt.tz_localize(None)
        actual = (local - utc.dt.tz_localize(None)) / pd.Timedelta(minutes=1)
        wrong = actual != written[mine]
        if wrong.any():
            at = wrong.idxmax()
            refuse(
                at,
                f"with the UTC offset {parts['offset'][at]}, but {name} is "
                f"{offset_text(actual[at])} at that time; correct the offset or the zone",
            )
    return column.where(~column.index.isin(bracketed.index), kept.reindex(column.index))


def _minutes(offsets: Any) -> Any:
    """RFC 3339 offsets (`-05:00`) as minutes east of UTC, NaN where none is given: each
    distinct offset (a zone has one or two) worked out once."""
    east = {
        text: (-1 if text[0] == "-" else 1) * (int(text[1:3]) * MINUTES_PER_HOUR + int(text[4:]))
        for text in offsets.dropna().unique()
    }
    return offsets.map(east).astype(float)
