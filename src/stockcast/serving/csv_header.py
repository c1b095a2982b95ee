"""How many names a CSV body's header line holds, counted from its commas where that count is
sure to be what the csv module would read: a header far wider than the model's window is
refused without a string made for each of its names (a header of a million names was 0.5 s
and 176 MB of them for a refusal of its width)."""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator

from stockcast.serving.number_text import is_number_text

LINE_ENDS = ("\n", "\r")
# What str.strip() strips (re's \s is the same set), matched rather than stripped: lstrip()
# copied the whole body.
LEADING_SPACE = re.compile(r"\s*")


def too_wide_header(text: str, width: int) -> int | None:
    """The number of names in the header line of `text` (a CSV body, NUL-free), where it is more
    than twice `width` and the line is refused by its width alone: some name among the first
    `width + 1` is no number (a header all numbers is a window sent without one) and the csv
    module reads it as the commas say (no quote, no name longer than it reads). None: read it."""
    # Lines of whitespace only before the header are skipped, as the csv_rows reader skips them.
    leading = LEADING_SPACE.match(text)
    start = leading.end() if leading else 0
    ends = [end for end in (text.find(char, start) for char in LINE_ENDS) if end >= 0]
    end = min(ends, default=len(text))
    names = text.count(",", start, end) + 1
    if names <= 2 * width or text.find('"', start, end) >= 0:
        return None
    if all(
        is_number_text(name.strip())
        for name in itertools.islice(_names(text, start, end), width + 1)
    ):
        return None
    return None if _may_hold_a_name_too_long(text, start, end) else names


def _names(text: str, start: int, end: int) -> Iterator[str]:
    """The line's names one at a time, each sliced only when it is reached."""
    while True:
        comma = text.find(",", start, end)
        if comma < 0:
            yield text[start:end]
            return
        yield text[start:comma]
        start = comma + 1


def _may_hold_a_name_too_long(text: str, start: int, end: int) -> bool:
    """Whether a name may be longer than the csv module reads (its refusal, not the width's): a
    run of more characters than its limit without a comma covers a whole stretch of half the
    limit, counted from the line's start, so a line whose every such stretch holds a comma
    holds no such name."""
    half = csv.field_size_limit() // 2
    return any(text.find(",", at, at + half) < 0 for at in range(start, end - half + 1, half))
