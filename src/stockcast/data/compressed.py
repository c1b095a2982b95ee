"""Compressed CSVs: which compression pandas reads a file by (its suffix), and one sentence for
each one it cannot open: a package missing, an archive that does not hold the CSV alone, a file
cut short, damaged, encrypted or named for another compression. A module of its own because it
knows the compressions, where `csv_file` knows the CSV inside them.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stockcast.errors import first_few, first_line

# Compressions pandas reads by the file's suffix, opened the same way for the line scans: a scan
# of the compressed bytes would name lines the file does not have.
DECOMPRESS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
# Compressed suffixes pandas also reads (zstd needs a package, tar holds an archive): not
# scanned, so pandas' own reason is given.
UNSCANNED = (".zst", ".tar", ".tar.gz", ".tar.bz2", ".tar.xz")
# Every suffix pandas decompresses a CSV by, longest first: `.tar.gz` is a tar archive, not gzip.
COMPRESSIONS = tuple(sorted({*DECOMPRESS, ".zip", *UNSCANNED}, key=lambda s: (-len(s), s)))
# The compression pandas reads only with the zstandard package, which stockcast does not require.
ZSTD = ".zst"
# Archives pandas reads a CSV from only when it is their one file, by the first word of their
# compression's suffix (.zip; .tar, .tar.gz, ...), and how to give pandas such an archive.
ARCHIVE_FIXES = {
    "zip": "zip the CSV on its own, or unzip it and give the CSV's own path",
    "tar": "archive the CSV on its own, or extract it and give the CSV's own path",
}
# What a file that is not the compressed data its suffix names makes the decompressors raise
# (gzip's BadGzipFile and bz2's "Invalid data stream" are OSErrors; EOFError: cut short).
DAMAGED_COMPRESSION = (
    OSError,
    EOFError,
    lzma.LZMAError,
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
)
# How many of an archive's files a refusal names.
SHOWN_FILES = 3


def damaged(path: Path, label: str, err: BaseException) -> str | None:
    """The sentence for a compressed file that is not the data its suffix names, cut short or
    damaged (`DAMAGED_COMPRESSION`); None for an uncompressed file or one that is missing or
    unreadable, whose error stays its own."""
    compression = compression_of(path)
    if not compression or isinstance(err, FileNotFoundError | PermissionError):
        return None
    return (
        f"{label} cannot be read as {compression} data ({first_line(err, ':')}); compress the CSV "
        "again (the file may be cut short, damaged or named for another compression), or "
        "give the CSV itself."
    )


def locked_zip(path: Path, label: str, err: BaseException) -> str | None:
    """The sentence for a zip whose member zipfile cannot open here (a RuntimeError); None for
    any other file or RuntimeError."""
    if compression_of(path) != ".zip" or not _zip_unreadable(path):
        return None
    return (
        f"{label} cannot be read as .zip data ({first_line(err, ':')}): it is encrypted or packed by "
        "a method Python cannot unpack; zip the CSV again without a password (deflate), or "
        "give the CSV itself."
    )


def unopened(path: Path, label: str, err: Exception) -> str | None:
    """The sentence for a compressed CSV pandas could not open: a .zst without the zstandard
    package (an ImportError), an archive without exactly one file (a ValueError); None for any
    other failure, which stays pandas' own."""
    name = path.name.lower()
    if isinstance(err, ImportError):
        if not name.endswith(ZSTD):
            return None
        return (
            f"reading {label} needs the zstandard package for its {ZSTD} compression; install "
            "it (pip install zstandard), or save the CSV uncompressed or as .csv.gz."
        )
    kind = compression_of(path).removeprefix(".").partition(".")[0]
    if kind not in ARCHIVE_FIXES:
        return None
    files = _archive_files(path, kind)
    if len(files) == 1:
        return None
    held = "no file" if not files else f"{len(files)} files ({first_few(files, SHOWN_FILES)})"
    return (
        f"{label} holds {held}, but pandas reads only a {kind} archive that holds the CSV "
        f"alone; {ARCHIVE_FIXES[kind]}."
    )


def _zip_unreadable(path: Path) -> bool:
    """Whether zipfile cannot open a member of the zip here: encrypted, packed by a method it
    lacks, or by one whose module this Python was built without (bz2, lzma)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                try:
                    with archive.open(member):
                        pass
                except RuntimeError:  # NotImplementedError is one
                    return True
    except (OSError, zipfile.BadZipFile):
        return False
    return False


def compression_of(path: Path) -> str:
    """The compression suffix pandas reads the file by (`.gz`, `.tar.gz`), or ''."""
    name = path.name.lower()
    return next((c for c in COMPRESSIONS if name.endswith(c)), "")


def _archive_files(path: Path, kind: str) -> list[str]:
    """The names of the files in a zip or tar archive, as pandas counts them (a folder, or
    the __MACOSX entries macOS adds to a zip, is one too)."""
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    with tarfile.open(path) as archive:
        return archive.getnames()
