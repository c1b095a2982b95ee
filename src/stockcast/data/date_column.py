"""One table's date column, read by its form, and the sentences that say what is wrong with it.

pandas reads a column of whole numbers as nanoseconds since 1970, so a yearly file (1700, 1701,
...) would become 247 instants within one microsecond of 1970-01-01. Whole numbers are read by
their digits instead:

- 4 digits: years (1990 is 1990-01-01);
- 6 digits: months written YYYYMM (199004 is 1990-04-01);
- 8 digits: days written YYYYMMDD (19900415).

Any other number (1990.25, 12, a Unix timestamp) is refused: write such dates as text. Quarters
and months written as period codes (`1990Q2`, `Q2 1990`, `1990M04`) are read as their first days
(period_codes.py). A column whose dates collapse to one instant is refused rather than read as
a series without order. Times whose zone is written as a name are refused, as pandas misreads
them.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np

from stockcast.data.period_codes import period_start
from stockcast.data.value_cells import spaces_only
from stockcast.data.zone_brackets import drop_zone_brackets
from stockcast.errors import DataError

NUMBER_FORMATS = {4: "%Y", 6: "%Y%m", 8: "%Y%m%d"}
NUMBER_FORMS = "years (1990), months as YYYYMM (199004) or days as YYYYMMDD (19900415)"
# The forms a refusal of an unreadable date offers.
DATE_FORMS = "1990-04-15, 04/15/1990, 1990Q2 or 1990M04"
# A time followed by a word (17:30 CET, 17:30 (CET)) or a zone's IANA name (09:30
# America/New_York): pandas drops a zone's name it does not know and reads the time as UTC,
# refuses EDT beside EST, and reads no IANA name at all; only these words say what they mean.
ZONE_NAME = re.compile(
    r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm]\s+)?"
    r"\(?([A-Za-z]{2,5}|[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+)\)?\s*$"
)
# GMT+1 and UTC+1 (an hour, no minutes) are read as POSIX zones, whose sign is the reverse:
# 16:00 GMT+1 comes out 17:00 UTC. `+01:00` reads as meant.
POSIX_OFFSET = re.compile(r"(?:GMT|UTC)\s*[+-]\d{1,2}\s*$", re.IGNORECASE)
KNOWN_WORDS = frozenset({"UTC", "GMT", "AM", "PM"})
# Series hold datetime64[ns]: the dates it can represent.
EARLIEST = np.datetime64("1677-09-22")
LATEST = np.datetime64("2262-04-11")
NS_PER_SECOND = 10**9


class DateColumn:
    """One table's date column and the sentences that say what is wrong with it."""

    def __init__(self, column: Any, label: str, key: str) -> None:
        self.column, self.label, self.key = column, label, key
        self.name = column.name
        self.periods = False
        # The cells as pandas reads them: RFC 9557 times without their zone brackets.
        self.readable = column

    def _fix(self) -> str:
        return f"set {self.key}.date_column=null"

    def _shown(self, row: int) -> str:
        """The row's cell as the file has it: text quoted, numbers plain."""
        value = self.column.iloc[row]
        return repr(value.item() if isinstance(value, np.generic) else value)

    def from_numbers(self) -> Any:
        import pandas as pd

        values = self.column.to_numpy(np.float64)
        self.refuse_unreadable(np.isnan(values))
        whole = (values > 0) & (np.floor(values) == values) & (values < 1e9)
        text = np.where(whole, values, 0).astype(np.int64).astype(str)
        digits = np.char.str_len(text)
        known = whole & np.isin(digits, list(NUMBER_FORMATS)) & (digits == digits[0])
        if not known.all():
            row = int(np.flatnonzero(~known)[0])
            raise DataError(
                f"{self.label} has {self._shown(row)} in date column {self.name!r} at data row "
                f"{row + 1}, which does not read as a date: numbers are read as {NUMBER_FORMS}, "
                "all of one form; write other dates as text (e.g. 1990-04-15, or 1990Q2 for a "
                f"quarter), or {self._fix()}."
            )
        # pandas turns a year it cannot hold into NaT: name such years as out of range first.
        years = (values // 10.0 ** (digits[0] - 4)).astype(np.int64)
        self._refuse_days_outside((years - 1970).astype("datetime64[Y]").astype("datetime64[D]"),
                                  years_only=True)  # fmt: skip
        dates = pd.to_datetime(
            pd.Series(text, index=self.column.index),
            format=NUMBER_FORMATS[int(digits[0])],
            errors="coerce",
        )
        self.refuse_unreadable(dates.isna().to_numpy())
        return dates

    def refuse_zone_names(self) -> None:
        """The first time whose zone is written as a name (CET, 4:00 PM EST) or as an hour after
        GMT or UTC (GMT+1, read with its sign reversed) rather than an offset."""
        text = self.column[self.column.map(lambda v: isinstance(v, str))]
        if text.empty:
            return
        posix = text.astype(str).str.contains(POSIX_OFFSET)
        words = text.astype(str).str.extract(ZONE_NAME)[0].str.upper()
        named = words.notna() & ~words.isin(KNOWN_WORDS)
        refusals = (
            (
                posix,
                "UTC offset",
                "as GMT or UTC and an hour, which is read with the sign "
                "reversed; write the offset with its minutes instead (2024-01-02 16:00+01:00)",
            ),
            (
                named,
                "time zone",
                "as a name, which is not read; write a UTC offset instead "
                "(2024-01-02 17:30+01:00 for 17:30 CET)",
            ),
        )
        for found, what, why in refusals:
            if found.any():
                row = int(self.column.index.get_loc(found.idxmax()))
                raise DataError(
                    f"{self.label} gives the {what} of {self._shown(row)} in column "
                    f"{self.name!r} at data row {row + 1} {why}."
                )

    def without_zone_brackets(self, column: Any) -> Any:
        """`column` (this one, or what it reads as) with each RFC 9557 time's zone checked
        against its offset and dropped (zone_brackets.py), or one sentence naming the first
        time that cannot be read so."""
        self.readable = drop_zone_brackets(column, self._refuse_bracket)
        return self.readable

    def _refuse_bracket(self, label: Any, why: str) -> None:
        row = int(self.column.index.get_loc(label))
        raise DataError(
            f"{self.label} writes the time {self._shown(row)} in column {self.name!r} at data "
            f"row {row + 1} {why}."
        )

    def from_periods(self) -> Any:
        import pandas as pd

        self.periods = True  # a cell that is no period is unreadable, not another form
        return pd.to_datetime(self.column.map(lambda text: period_start(text, EARLIEST, LATEST)))

    def refuse_unreadable(self, unread: np.ndarray) -> None:
        """The first row marked in `unread`, as one sentence."""
        if unread.any():
            row = int(np.flatnonzero(unread)[0])
            self._refuse_mixed_forms(row)
            self._refuse_blank(row)
            raise DataError(
                f"{self.label} has an unreadable date {self._shown(row)} in column "
                f"{self.name!r} at data row {row + 1}; write it as a date ({DATE_FORMS}, every "
                f"row in one form), or {self._fix()} to read the values without their dates."
            )

    def _refuse_blank(self, row: int) -> None:
        """A row without a date: most often a spreadsheet's empty row (`,`) at the end."""
        import pandas as pd

        value = self.column.iloc[row]
        if isinstance(value, str) and value.strip():
            return
        if not isinstance(value, str) and not pd.isna(value):
            return
        blank = self.column.isna() | self.column.map(spaces_only)
        count = int(blank.sum())
        more = f" ({count - 1} more row(s) without one)" if count > 1 else ""
        raise DataError(
            f"{self.label} has no date in column {self.name!r} at data row {row + 1}{more}; "
            "give each row its date, or delete the rows that hold nothing."
        )

    def _refuse_mixed_forms(self, row: int) -> None:
        """A date pandas could read on its own but not in this column: written in another form
        than the rows before it (pandas reads a column in the first date's form), such as a UTC
        offset after times without one."""
        import pandas as pd

        value = self.readable.iloc[row]
        if not isinstance(value, str) or self.periods:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pandas' guess at day-first text
            alone = pd.to_datetime(value, errors="coerce")
        if pd.isna(alone):
            return
        raise DataError(
            f"{self.label} writes the date {self._shown(row)} in column {self.name!r} at data row "
            f"{row + 1} in another form than its first date {self._shown(0)} (with or without a "
            f"UTC offset, or another layout); write every date in one form or {self._fix()}."
        )

    def refuse_out_of_range(self, dates: Any) -> None:
        self._refuse_days_outside(dates.to_numpy("datetime64[D]"))

    def _refuse_days_outside(self, days: np.ndarray, years_only: bool = False) -> None:
        """`years_only`: `days` are the first days of years, refused only when the whole year
        lies outside."""
        earliest = (
            EARLIEST.astype("datetime64[Y]").astype("datetime64[D]") if years_only else EARLIEST
        )
        outside = (days < earliest) | (days > LATEST)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise DataError(
                f"{self.label} has the date {days[row]} in column {self.name!r} at data row "
                f"{row + 1}, outside {EARLIEST} to {LATEST}, the dates a series can hold; drop "
                f"those rows or {self._fix()}."
            )

    def refuse_one_instant(self, dates: Any) -> None:
        values = dates.to_numpy("datetime64[ns]")
        # In Python integers: the span of nanoseconds over 292 years (a yearly file from 1700)
        # overflows int64 and wrapped to a negative span, read as one instant.
        nanoseconds = values.view(np.int64)
        if len(values) < 2 or int(nanoseconds.max()) - int(nanoseconds.min()) >= NS_PER_SECOND:
            return
        instant = np.datetime_as_string(values.min(), unit="s")
        raise DataError(
            f"every date in column {self.name!r} of {self.label} falls on one instant "
            f"({instant}), so its {len(values)} rows have no order; give each row its own date "
            f"(numbers are read as {NUMBER_FORMS}) or {self._fix()}."
        )
