"""A config file Hydra could not read, as one clause naming the file: YAML it cannot parse, or
bytes that are not UTF-8 text. Hydra lets the reader's own error through, which names the file
only in its traceback (or not at all), so the file is found there."""

from __future__ import annotations

import os

from stockcast.errors import first_line


def unreadable_config_file(err: Exception) -> str | None:
    """A config file that is not YAML, or not UTF-8 text, as one clause naming the file (`the
    config file .../trainer/default.yaml is not valid YAML at line 19 (found duplicate key
    max_epochs); fix that file`); None for such an error about anything but a file."""
    if isinstance(err, UnicodeDecodeError):
        path = _file_being_read(err)
        if path is None:
            return None
        byte = err.object[err.start : err.start + 1]
        return (
            f"the config file {path} is not UTF-8 text (byte {byte!r} at position {err.start}); "
            "save it as UTF-8"
        )
    mark = getattr(err, "problem_mark", None)
    if mark is not None:
        path, where = mark.name, f"line {mark.line + 1}"
    else:  # a character YAML refuses anywhere (a control character): where the reader was
        path, where = getattr(err, "name", None), f"character {getattr(err, 'position', '?')}"
    if not (isinstance(path, str) and os.path.isfile(path)):
        return None
    problem = getattr(err, "problem", None) or first_line(err)
    return f"the config file {path} is not valid YAML at {where} ({problem}); fix that file"


def _file_being_read(err: BaseException) -> str | None:
    """The file Hydra's file source was reading when `err` was raised (its `full_path`); a
    decoding error names no file of its own."""
    tb = err.__traceback__
    found = None
    while tb is not None:
        path = tb.tb_frame.f_locals.get("full_path")
        if isinstance(path, str) and os.path.isfile(path):
            found = path
        tb = tb.tb_next
    return found
