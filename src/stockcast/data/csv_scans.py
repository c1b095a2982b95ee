"""Scans of a CSV file's lines and bytes, as pandas reads them (decompressed by its suffix):
each finds the first line at fault (ragged, an unclosed quote, a NUL byte, not UTF-8) that
pandas' own error does not name, or whether any byte sequence occurs at all."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from stockcast.data.compressed import DECOMPRESS, UNSCANNED

QUOTE = '"'


def scannable(path: Path) -> bool:
    """Whether the line scans can read the text pandas read."""
    return not path.name.lower().endswith(UNSCANNED)


@contextmanager
def open_bytes(path: Path) -> Iterator[IO[bytes]]:
    """The file's bytes as pandas reads them: decompressed by the suffix (a zip holds one
    file)."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as handle:
            yield handle
        return
    with DECOMPRESS.get(suffix, open)(path, "rb") as handle:
        yield handle


@contextmanager
def open_text(path: Path) -> Iterator[IO[str]]:
    """The file's text for the line scans: undecodable bytes replaced, line ends kept."""
    with open_bytes(path) as raw:
        yield io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def ragged_line(path: Path, separator: str = ",") -> tuple[int, int, int] | None:
    """(line, fields, header width) of the first non-blank row with another number of fields
    than the header; lines are the file's own, 1-based, the header being line 1."""
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter=separator)
        header = next(reader, None)
        if header is None:
            return None
        start = reader.line_num + 1
        for record in reader:
            if record and len(record) != len(header):
                return start, len(record), len(header)
            start = reader.line_num + 1
    return None


def unclosed_quote_line(path: Path) -> int | None:
    """The line where a quoted field opens that the file never closes, or None. A doubled
    quote inside a quoted field ("") does not change whether a quote is open."""
    open_since = None
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.count(QUOTE) % 2:
                open_since = number if open_since is None else None
    return open_since


def first_nul_line(path: Path, chunk_size: int = 1 << 20) -> int | None:
    """The line (1-based) of the file's first NUL byte, or None: one pass over its bytes, in
    chunks (a search for one byte, fast beside the parse that follows)."""
    lines_before = 0
    with open_bytes(path) as handle:
        while chunk := handle.read(chunk_size):
            at = chunk.find(b"\x00")
            if at >= 0:
                return lines_before + chunk.count(b"\n", 0, at) + 1
            lines_before += chunk.count(b"\n")
    return None


def holds_any(path: Path, marks: Sequence[bytes], chunk_size: int = 1 << 20) -> bool:
    """Whether the file's bytes hold any of `marks`: one pass, in chunks overlapping by the
    longest mark less one (so none is missed across a chunk's end)."""
    overlap = max(map(len, marks)) - 1
    tail = b""
    with open_bytes(path) as handle:
        while chunk := handle.read(chunk_size):
            window = tail + chunk
            if any(mark in window for mark in marks):
                return True
            tail = window[-overlap:]
    return False


def first_non_utf8_line(path: Path) -> tuple[int, int] | None:
    """(line, first offending byte) of the first line that is not UTF-8, or None."""
    with open_bytes(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return number, raw[err.start]
    return None
