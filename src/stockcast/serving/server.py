"""The verified scoring server behind `scripts/serve.py` / `make serve`.

It loads a registered version only from a private copy that matches the hash its registration
recorded, then answers MLflow's scoring routes (/invocations, /ping, /health, /version) and
request formats (JSON `inputs`, `instances`, `dataframe_split`, `dataframe_records`; CSV) itself,
rather than through `mlflow.pyfunc.scoring_server`: that app reads a body of any size into
memory, turns `[true, 101.9]` into `[1.0, 101.9]` before the model sees it, and answers a
refusal with the server's stack trace. Here a body over `serve.max_bytes` is refused before it
is read in full (from Content-Length, then by counting), more than `serve.max_rows` rows before
any is forecast, and every window passes the same guards as predict (`OpenModel.forecast`), so
a refusal is the same one sentence: HTTP 400 for input that is not a window of prices, 413 for
a request too large, 422 for a forecast the output guard refuses. No body carries a traceback.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.errors import ForecastRefused, StockcastError
from stockcast.serving.model import OpenModel, open_model

log = logging.getLogger(__name__)

JSON_FORMATS = ("inputs", "instances", "dataframe_split", "dataframe_records")
EXAMPLE = '{"inputs": [[101.2, 101.9, ...]]}'


@dataclass(frozen=True)
class Limits:
    """The largest request served (`serve.max_rows`, `serve.max_bytes`)."""

    max_rows: int
    max_bytes: int


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


async def bounded_body(request: Any, max_bytes: int) -> bytes:
    """The body, or a 413 once it is known to exceed `max_bytes`: from Content-Length before
    reading anything, else after the first chunk that crosses the limit (never read further)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refused(400, "BAD_REQUEST", f"Content-Length {declared!r} is not a size.")
        if int(declared) > max_bytes:
            raise _too_large(f"{int(declared)} bytes", max_bytes, "serve.max_bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(f"over {max_bytes} bytes", max_bytes, "serve.max_bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_rows(body: bytes) -> list[Any]:
    """The rows of a JSON body in one of MLflow's formats, values untouched (a `true` stays a
    bool for the input guard to refuse)."""
    try:
        payload = json.loads(body)
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
        rows = rows.get("data") if isinstance(rows, dict) else None
    if isinstance(rows, list) and rows and all(isinstance(row, dict) for row in rows):
        rows = record_rows(rows, keys[0])
    if not isinstance(rows, list) or not rows:
        raise Refused(
            400, "BAD_REQUEST", f"{keys[0]} holds no rows of prices; send e.g. {EXAMPLE}."
        )
    return rows if isinstance(rows[0], list) else [rows]  # one flat row: one window


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
                f"{name} record {number} has the keys {sorted(record)}, not the first "
                f"record's {sorted(columns)}; give every record the same keys.",
            )
    return [[record[key] for key in columns] for record in records]


def csv_rows(body: bytes) -> Any:
    import pandas as pd

    try:
        table = pd.read_csv(io.BytesIO(body))
    except (ValueError, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0].rstrip(".") if str(err).strip() else "empty"
        raise Refused(
            400, "BAD_REQUEST", f"the body is not a CSV table with a header ({first})."
        ) from None
    names = [str(name) for name in table.columns]
    # pandas writes a frame's positions 0, 1, ... as its header: names, not a window.
    positions = names == [str(i) for i in range(len(names))]
    if table.empty or (not positions and all(_is_number_text(name) for name in names)):
        # Its first line was read as the header: windows sent without one.
        raise Refused(
            400,
            "BAD_REQUEST",
            (
                "the CSV body has a header line and no rows under it"
                if table.empty
                else "the CSV body's header line is all numbers, a window sent without a header"
            )
            + "; send a header line (any names), then one window of prices per line.",
        )
    return table


def _is_number_text(name: Any) -> bool:
    try:
        float(str(name))
    except ValueError:
        return False
    return True


def request_rows(body: bytes, content_type: str, max_rows: int) -> Any:
    """The request's rows (a list of rows or a DataFrame), at most `max_rows` of them."""
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/json":
        rows = json_rows(body)
    elif mime == "text/csv":
        rows = csv_rows(body)
    else:
        if content_type:
            sent = f"Content-Type {content_type!r} is not served"
        else:
            sent = "the request has no Content-Type"
        raise Refused(415, "UNSUPPORTED_MEDIA_TYPE", f"{sent}; send application/json or text/csv.")
    if len(rows) > max_rows:
        raise _too_large(f"{len(rows)} rows", max_rows, "serve.max_rows")
    return rows


def answer(model: OpenModel, body: bytes, content_type: str, limits: Limits) -> bytes:
    """The JSON answer to one request: `{"predictions": [one object per row]}`."""
    rows = request_rows(body, content_type, limits.max_rows)
    try:
        frame = model.frame(rows)
    except ForecastRefused as err:
        raise Refused(422, "FORECAST_REFUSED", str(err)) from None
    except StockcastError as err:
        raise Refused(400, "INVALID_PARAMETER_VALUE", str(err)) from None
    return json.dumps({"predictions": frame.to_dict(orient="records")}).encode()


def build_app(model: OpenModel, limits: Limits) -> Any:
    """The scoring app for this model."""
    from mlflow.version import VERSION
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    def error(refused: Refused, headers: Mapping[str, str] | None = None) -> Response:
        body = json.dumps({"error_code": refused.code, "message": str(refused)})
        return Response(
            body, status_code=refused.status, headers=headers, media_type="application/json"
        )

    async def invocations(request: Request) -> Response:
        try:
            body = await bounded_body(request, limits.max_bytes)
            content_type = request.headers.get("content-type", "")
            result = await asyncio.to_thread(answer, model, body, content_type, limits)
        except Refused as refused:
            return error(refused)
        except Exception:  # the log keeps the traceback; the client gets one sentence
            log.exception("forecasting a request failed")
            return error(
                Refused(500, "INTERNAL_ERROR", "the server failed to forecast; see its log.")
            )
        return Response(result, media_type="application/json")

    async def not_served(request: Request, exc: Exception) -> Response:
        # Starlette's own 404 and 405 are plain text; every answer here is the JSON error body.
        assert isinstance(exc, HTTPException)
        code = {404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code)
        message = (
            f"{request.method} {request.url.path} is not served; POST windows to /invocations "
            "(GET /ping, /health or /version)."
        )
        return error(Refused(exc.status_code, code or "BAD_REQUEST", message), exc.headers)

    async def ping(request: Request) -> Response:
        return Response("\n", media_type="application/json")

    async def version(request: Request) -> Response:
        return Response(VERSION, media_type="application/json")

    return Starlette(
        routes=[
            Route("/invocations", invocations, methods=["POST"]),
            Route("/ping", ping),
            Route("/health", ping),
            Route("/version", version),
        ],
        exception_handlers={HTTPException: not_served},
    )


def run_serve(cfg: DictConfig) -> None:
    """Resolve the version, load it verified, serve it until interrupted."""
    import uvicorn

    with tempfile.TemporaryDirectory(prefix="stockcast-serve-") as download_dir:
        model = open_model(cfg, download_dir)
    app = build_app(model, Limits(int(cfg.serve.max_rows), int(cfg.serve.max_bytes)))
    host, port = str(cfg.serve.host), int(cfg.serve.port)
    signed = OmegaConf.select(cfg, "registry.signing.public_key")
    checked = "hash and signature" if signed else "hash"
    log.info(
        "serving %s (files verified against its registered %s) on http://%s:%d/invocations",
        model.label,
        checked,
        host,
        port,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
