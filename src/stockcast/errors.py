"""User-facing errors: one sentence that says what is wrong and what to do."""

import sys
from collections.abc import Iterable
from typing import Any, NoReturn


def error_text(err: BaseException) -> str:
    """The error's message, or its cause's (Hydra wraps an OmegaConf error of a config file in
    an exception without a message), or its name."""
    return str(err).strip() or str(err.__cause__ or "").strip() or type(err).__name__


def first_line(err: BaseException, strip: str = "") -> str:
    """A library error's first non-blank line (`error_text`'s), with the trailing `strip`
    characters removed: what a one-sentence refusal quotes of it."""
    return error_text(err).splitlines()[0].strip().rstrip(strip)


def first_few(items: Iterable[Any], shown: int) -> str:
    """'a, b, c and 4 more': a refusal names the first `shown` of many items and counts the
    rest, rather than burying its sentence under all of them."""
    items = list(items)
    rest = len(items) - shown
    return ", ".join(str(item) for item in items[:shown]) + (
        f" and {rest} more" if rest > 0 else ""
    )


def quoted(item: Any, longest: int = 40) -> str:
    """A value as a refusal quotes it: its repr, cut short after `longest` characters (a
    request may send megabytes, which its refusal would otherwise send back)."""
    text = repr(item)
    return text if len(text) <= longest else text[:longest] + "..."


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 job', '2 jobs' (`plural`: where adding an s does not make it)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


class StockcastError(Exception):
    """A problem the user can fix; entry points print it as one line and exit non-zero."""


class DataError(StockcastError, ValueError):
    """The data or the data config cannot give valid windows."""


class TooEarly(DataError):
    """`data.as_of` leaves too little data, where a later day would not. Its `fact` and its
    `other_fixes` (beside a later day) are kept apart, so that a caller that sets the day
    itself (a replay's `replay.end`) says which day to move in its own key's words."""

    def __init__(self, fact: str, other_fixes: str = "") -> None:
        self.fact, self.other_fixes = fact, other_fixes
        super().__init__(self.advising("pick a later data.as_of"))

    def advising(self, later_day: str) -> str:
        """The sentence with `later_day` as the first fix (e.g. "give a later replay.end")."""
        return f"{self.fact}; {later_day}{self.other_fixes}."


class ForecastRefused(DataError):
    """The model's answer is not a forecast (far outside its window's range): never returned."""


class ConfigError(StockcastError, ValueError):
    """A config value is out of range or inconsistent."""


class ArtifactError(StockcastError):
    """A folder is missing or is not the kind of folder a step expects."""


class LedgerUnusable(ArtifactError):
    """The forecast ledger cannot be opened, read or written: the monitor step fails on it
    rather than skipping a day, whose forecast would otherwise be lost without a word. `detail`
    is SQLite's error, for sentences that give their own advice."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class DamagedVersion(ArtifactError):
    """A registered version's files differ from those registered or signed, or are gone: no
    setting makes it usable again. `detail` says which files, for sentences that quote it."""

    # How its files are unusable, in the sentence that hands a champion's place over.
    how = "were changed or lost since it was registered"

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


class DamagedFiles(ArtifactError):
    """A model folder's files fail the loader's checks (a truncated weights file, spec.json
    missing, MLmodel not YAML): `detail` says which and how, `advice` what to do."""

    def __init__(self, detail: str, advice: str) -> None:
        super().__init__(f"{detail}; {advice}.")
        self.detail = detail


class UnloadableVersion(DamagedVersion):
    """A registered version's files are those registered, and they cannot be loaded (a weights
    file truncated before registration): no setting makes it usable either."""

    how = "cannot be loaded as they were registered"


class UnverifiableVersion(DamagedVersion):
    """A registered version that carries no hash of its whole folder (registered by hand or by
    an older stockcast): nothing says its files are those registered, so nothing loads it, and
    no setting makes it usable either; a champion of it is replaced as a damaged one is."""

    how = "cannot be verified"


def exit_with_error(message: str) -> NoReturn:
    """One line on stderr and exit status 2: how every command reports a user's error."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)
