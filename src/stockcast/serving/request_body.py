"""A scoring request's body as rows of prices: read up to `serve.max_bytes`, in one of
MLflow's JSON formats or as CSV, at most `serve.max_rows` rows; anything else is one sentence
with its HTTP status (`Refused`)."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import itertools
import json
from typing import Any

import numpy as np

from stockcast.errors import DataError, counted, quoted
from stockcast.forecasting.guard import refuse_label_columns, wrong_width
from stockcast.serving.csv_header import too_wide_header
from stockcast.serving.number_text import (
    cell_value,
    decimal_number,
    is_number_text,
    whole_number,
)

JSON_FORMATS = ("inputs", "instances", "dataframe_split", "dataframe_records")
EXAMPLE = '{"inputs": [[101.2, 101.9, ...]]}'
# The JSON forms read, as a refusal of another says them.
READ_FORMS = (
    "send a list of rows (one window of prices each) under inputs or instances, or a table as "
    "dataframe_split (columns and data) or dataframe_records"
)
# How much of a record's keys or a Content-Type a refusal quotes back (a value: the guard's 40).
LONGEST_QUOTED = 200
# The error code of a body that did not arrive in full within serve.read_timeout_s.
TIMED_OUT = "REQUEST_TIMEOUT"


class Refused(Exception):
    """A request answered with `status` and one sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _too_large(what: str, limit: int, key: str) -> Refused:
    return Refused(
        413,
        "REQUEST_TOO_LARGE",
        f"the request holds {what}, more than the {limit} this server takes ({key}); split it "
        "into smaller requests.",
    )


async def bounded_body(request: Any, max_bytes: int, timeout_s: float | None = None) -> bytes:
    """The body, or a 413 once it is known to exceed `max_bytes`: from Content-Length before
    reading anything, else after the first chunk that crosses the limit (never read further);
    or a 408 when it has not arrived in full `timeout_s` after reading began (None: no limit): a
    client that stops sending held its place among serve.max_concurrent_requests for good."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refused(400, "BAD_REQUEST", f"Content-Length {quoted(declared)} is not a size.")
        if int(declared) > max_bytes:
            raise _too_large(f"{int(declared)} bytes", max_bytes, "serve.max_bytes")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(f"over {max_bytes} bytes", max_bytes, "serve.max_bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(
            408,
            TIMED_OUT,
            f"the request's body had not arrived in full {timeout_s:g} s after it began "
            "(serve.read_timeout_s); send the whole body at once.",
        ) from None
    return b"".join(chunks)


def json_rows(body: bytes) -> list[Any]:
    """The rows of a JSON body in one of MLflow's formats, values untouched (a `true` stays a
    bool for the input guard to refuse)."""
    try:
        payload = json.loads(body, parse_int=whole_number, parse_float=decimal_number)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        raise Refused(
            400, "BAD_REQUEST", f"the body is not valid JSON; send e.g. {EXAMPLE}."
        ) from None
    keys = [key for key in JSON_FORMATS if isinstance(payload, dict) and key in payload]
    if len(keys) != 1:
        raise Refused(
            400,
            "BAD_REQUEST",
            f"the body must be a JSON object with exactly one of {', '.join(JSON_FORMATS)}; "
            f"send e.g. {EXAMPLE}.",
        )
    rows = payload[keys[0]]
    if keys[0] == "dataframe_split":
        rows = split_rows(rows)
    if isinstance(rows, list) and rows and all(isinstance(row, dict) for row in rows):
        rows = record_rows(rows, keys[0])
    if isinstance(rows, dict) and keys[0] in ("inputs", "instances"):
        # MLflow's named tensors ({"inputs": {"x": [...]}}): the model reads unnamed rows.
        raise Refused(
            400,
            "BAD_REQUEST",
            f"{keys[0]} holds named inputs, which this server does not read; {READ_FORMS}, "
            f"e.g. {EXAMPLE}.",
        )
    if not isinstance(rows, list) or not rows:
        raise Refused(
            400, "BAD_REQUEST", f"{keys[0]} holds no rows of prices; {READ_FORMS}, e.g. {EXAMPLE}."
        )
    # One flat row is one window; rows of which any is a list are rows, for the guard to name
    # the one that is not.
    return rows if any(isinstance(row, list) for row in rows) else [rows]


def split_rows(split: Any) -> Any:
    """`dataframe_split`'s data rows, each as wide as its `columns` where it names them: MLflow's
    DataFrame of a row of another width fails deep in pandas, and a window one price short or
    long is no window the model reads."""
    if not isinstance(split, dict):
        return None
    rows, columns = split.get("data"), split.get("columns")
    if isinstance(rows, list):
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, list):
                # `data` one flat list: a column's values, MLflow's rows of one price each.
                raise Refused(
                    400,
                    "BAD_REQUEST",
                    f"dataframe_split row {number} is {quoted(row)}, no list; give each window as "
                    "a row, a list of one price per column.",
                )
            if isinstance(columns, list) and len(row) != len(columns):
                raise Refused(
                    400,
                    "BAD_REQUEST",
                    f"dataframe_split row {number} holds {counted(len(row), 'value')} under "
                    f"{counted(len(columns), 'column')}; give every row one price per column.",
                )
    return rows


def record_rows(records: list[dict[str, Any]], name: str) -> list[list[Any]]:
    """Records (objects under `name`: `dataframe_records`, or `inputs` or `instances` holding
    them) lined up by key in the first record's key order, as MLflow's DataFrame of them lines
    them up: a record listing the same prices under its keys in another order is the same
    window. Records whose keys differ are refused (MLflow would fill NaN)."""
    columns = list(records[0])
    for number, record in enumerate(records[1:], start=2):
        if set(record) != set(columns):
            raise Refused(
                400,
                "BAD_REQUEST",
                f"{name} record {number} has the keys {quoted(sorted(record), LONGEST_QUOTED)}, "
                f"not the first record's {quoted(sorted(columns), LONGEST_QUOTED)}; give every "
                "record the same keys.",
            )
    return [[record[key] for key in columns] for record in records]


def csv_rows(body: bytes, width: int | None = None, max_rows: int | None = None) -> list[list[Any]]:
    """A CSV body's windows: a header line (any names, not all numbers), then one window of
    prices per line, each as wide as the header (and, given, `width`: the model's window,
    refused from the header before any line under it is read), at most `max_rows` of them
    (refused once one more is read). Read with the csv module, not pandas, which renamed a
    repeated number in the header (so a window sent without one passed as it), made a row's
    extra first value its index, cut a value at a NUL byte, and read a column holding one text
    value all as text (so the refusal named a valid price)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        # Where in the body as sent: the decoder counts from after a BOM it strips.
        at = err.start + len(codecs.BOM_UTF8) * body.startswith(codecs.BOM_UTF8)
        line = len((body[:at] + b"x").splitlines())
        raise Refused(
            400,
            "BAD_REQUEST",
            f"the CSV body is not UTF-8 text (line {line} holds the byte 0x{body[at]:02x}); "
            "send the table encoded as UTF-8.",
        ) from None
    if "\x00" in text:
        raise Refused(
            400, "BAD_REQUEST", "the CSV body holds a NUL byte; send the prices as plain text."
        )
    wide = None if width is None else too_wide_header(text, width)
    if wide is not None:
        raise _header_too_wide(width, wide)
    # Blank lines (or only spaces) are skipped, as pandas skipped them; each line keeps its
    # number in the body for a refusal to name.
    reader = csv.reader(io.StringIO(text, newline=""))
    lines = (
        (reader.line_num, row)
        for row in reader
        if row and not (len(row) == 1 and not row[0].strip())
    )
    try:
        first = next(lines, None)
        if first is None:
            raise Refused(400, "BAD_REQUEST", "the body is not a CSV table with a header (empty).")
        header = [name.strip() for name in first[1]]
        # pandas writes a frame's positions 0, 1, ... as its header: names, not a window.
        positions = header == [str(i) for i in range(len(header))]
        if not positions and all(is_number_text(name) for name in header):
            # Its first line would be read as the header: windows sent without one, said before
            # their width, which named the names of a header the body does not have.
            raise _no_header(
                "the CSV body's header line is all numbers, a window sent without a header"
            )
        if width is not None and len(first[1]) != width:
            # Before any line under it is read: a header of a million names was a million
            # values read, and converted, for a refusal of their width. A header at most twice
            # the window's width has its first line read: a ticker sent beside each window is
            # named as no price there, as in a JSON body.
            under = next(lines, None) if width < len(header) <= 2 * width else None
            if under is not None and len(under[1]) == len(header):
                cells = np.array([[cell_value(cell) for cell in under[1]]], dtype=object)
                refuse_label_columns(cells, width, header)
            raise _header_too_wide(width, len(first[1]))
        # One line past max_rows at most: a body of 400,000 short lines was read, and each
        # value converted, before its 413 (5 s, 200 MB).
        rows = list(lines if max_rows is None else itertools.islice(lines, max_rows + 1))
        if max_rows is not None and len(rows) > max_rows:
            raise _too_large(f"over {max_rows} rows", max_rows, "serve.max_rows")
    except csv.Error as err:
        raise Refused(
            400, "BAD_REQUEST", f"the body is not a CSV table with a header ({err})."
        ) from None
    if not rows:
        raise _no_header("the CSV body has a header line and no rows under it")
    for number, row in rows:
        if len(row) != len(header):
            raise Refused(
                400,
                "BAD_REQUEST",
                f"line {number} of the CSV body holds {counted(len(row), 'value')} under a "
                f"header of {counted(len(header), 'name')}; send one window per line, as many "
                "prices as the header has names.",
            )
    return [[cell_value(cell) for cell in row] for _, row in rows]


def _header_too_wide(width: int, names: int) -> DataError:
    """The guard's refusal of a CSV body whose header has `names` names, not `width`."""
    return wrong_width(width, f"a CSV body whose header has {counted(names, 'name')}")


def _no_header(said: str) -> Refused:
    """The refusal of a CSV body without a header line and windows under it, `said` first."""
    return Refused(
        400,
        "BAD_REQUEST",
        f"{said}; send a header line (any names), then one window of prices per line.",
    )


def request_rows(
    body: bytes, content_type: str, max_rows: int, width: int | None = None
) -> list[Any]:
    """The request's rows (lists of values, or one flat window), at most `max_rows` of them; a
    CSV body's header not `width` names wide (the model's window) is refused before its lines
    are read (a JSON body is parsed whole first: the guard refuses its width)."""
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/json":
        rows = json_rows(body)
    elif mime == "text/csv":
        rows = csv_rows(body, width, max_rows)
    else:
        if content_type:
            sent = f"Content-Type {quoted(content_type, LONGEST_QUOTED)} is not served"
        else:
            sent = "the request has no Content-Type"
        raise Refused(415, "UNSUPPORTED_MEDIA_TYPE", f"{sent}; send application/json or text/csv.")
    if len(rows) > max_rows:
        raise _too_large(f"{len(rows)} rows", max_rows, "serve.max_rows")
    return rows
