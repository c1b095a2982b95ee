"""A warning for a long `input.values=[...]` on predict's command line, given before Hydra reads
it: Hydra's override parser slows with the square of a list's length (10,000 values take about
half a minute, 30,000 six minutes), while a CSV file of them is read at once."""

from __future__ import annotations

from collections.abc import Sequence

# Beyond this many values Hydra's parsing of the list takes more than a few seconds.
SLOW_VALUES = 5000
VALUES_KEY = "input.values"


def long_values_warning(arguments: Sequence[str]) -> str | None:
    """The warning for an `input.values` override on the command line holding more than
    `SLOW_VALUES` values (counted by their commas, without parsing them), or None."""
    for argument in arguments:
        key, _, value = argument.lstrip("+~").partition("=")
        if key != VALUES_KEY:
            continue
        count = value.count(",") + 1
        if count > SLOW_VALUES:
            return (
                f"warning: {VALUES_KEY} holds {count} values, which Hydra is slow to read from "
                "the command line (10,000 take about half a minute, and the time grows with the "
                "square of their number); write them to a CSV file and give input=csv "
                "input.path=<file> input.date_column=null input.value_column=<its column> "
                "instead."
            )
    return None
