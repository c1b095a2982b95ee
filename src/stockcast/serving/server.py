"""The verified scoring server behind `scripts/serve.py` / `make serve`.

It loads a registered version only from a private copy that matches the hash its registration
recorded, then answers MLflow's scoring routes (/invocations, /ping, /health, /version) and
request formats (JSON `inputs`, `instances`, `dataframe_split`, `dataframe_records`; CSV) itself,
rather than through `mlflow.pyfunc.scoring_server`: that app reads a body of any size into
memory, turns `[true, 101.9]` into `[1.0, 101.9]` before the model sees it, and answers a
refusal with the server's stack trace. Here a body over `serve.max_bytes` is refused before it
is read in full (from Content-Length, then by counting), one whose body has not arrived
`serve.read_timeout_s` after it began is cut off, more than `serve.max_rows` rows before
any is forecast, and every window passes the same guards as predict (`OpenModel.forecast`), so
a refusal is the same one sentence: HTTP 400 for input that is not a window of prices, 413 for
a request too large, 422 for a forecast the output guard refuses, 503 for a request beyond
`serve.max_concurrent_requests` under way or still open `serve.shutdown_timeout_s` after the
server was told to stop. No body carries a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from omegaconf import DictConfig, OmegaConf

from stockcast.errors import ForecastRefused, StockcastError
from stockcast.serving.model import OpenModel, open_model
from stockcast.serving.request_body import TIMED_OUT, Refused, bounded_body, request_rows
from stockcast.serving.server_process import (
    STOP_SIGNALS,
    bound_socket,
    end_by_signal,
    invocations_url,
    listen_host,
    run_until_stopped,
)

if TYPE_CHECKING:  # annotations only: starlette is imported where the app is built
    from starlette.requests import Request
    from starlette.responses import Response

    # An endpoint of the app: a request in, its answer out.
    Endpoint = Callable[[Request], Awaitable[Response]]

log = logging.getLogger(__name__)

# The response header naming the registered model and version that forecast.
MODEL_HEADER = "X-Stockcast-Model"
# What a model name keeps as it is in that header (anything else is percent-encoded).
HEADER_SAFE = " ._-~()"
# How many seconds a client told the server is busy is asked to wait before it retries.
BUSY_RETRY_AFTER_S = 1


@dataclass(frozen=True)
class Limits:
    """The largest request served (`serve.max_rows`, `serve.max_bytes`), how many are
    answered at once (`serve.max_concurrent_requests`) and how long a body may take to arrive
    (`serve.read_timeout_s`); None: no bound."""

    max_rows: int
    max_bytes: int
    max_concurrent_requests: int | None = None
    read_timeout_s: float | None = None


def answer(model: OpenModel, body: bytes, content_type: str, limits: Limits) -> bytes:
    """The JSON answer to one request: `{"predictions": [one object per row]}`."""
    try:
        rows = request_rows(body, content_type, limits.max_rows, model.previous_time_window)
        records = model.records(rows)
    except ForecastRefused as err:
        raise Refused(422, "FORECAST_REFUSED", str(err)) from None
    except StockcastError as err:
        raise Refused(400, "INVALID_PARAMETER_VALUE", str(err)) from None
    return json.dumps({"predictions": records}).encode()


def model_header(name: str, version: int | None) -> str:
    """`<name> version <n>`; header values are Latin-1, so a name holding anything beyond
    letters, digits and `HEADER_SAFE` is percent-encoded (a name in Japanese failed every
    answer)."""
    return f"{quote(name, safe=HEADER_SAFE)} version {version}"


def build_app(model: OpenModel, limits: Limits) -> Any:
    """The scoring app for this model."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException

    routes = _routes(_Scoring(model, limits).invocations, _version_endpoint())
    app = Starlette(routes=routes, exception_handlers={HTTPException: _not_served})
    # Each route answers with a trailing slash too, rather than with Starlette's empty
    # redirect, which a client that does not follow it read as an empty answer.
    app.router.redirect_slashes = False
    return app


def _routes(invocations: Endpoint, version: Endpoint) -> list[Any]:
    """MLflow's scoring routes, each with and without a trailing slash."""
    from starlette.routing import Route

    return [
        Route(path, endpoint, methods=methods)
        for route, endpoint, methods in (
            ("/invocations", invocations, ["POST"]),
            ("/ping", _ping, None),
            ("/health", _ping, None),
            ("/version", version, None),
        )
        for path in (route, f"{route}/")
    ]


class _Scoring:
    """The /invocations endpoint of one model: at most `limits.max_concurrent_requests` requests
    under way, each forecast in a thread of its own pool, every failure one JSON sentence."""

    def __init__(self, model: OpenModel, limits: Limits) -> None:
        self.model = model
        self.limits = limits
        # Which version answered: the server keeps the one it resolved when it started, so a
        # client can tell when the champion alias has moved since (restart the server then).
        self.served = {MODEL_HEADER: model_header(str(model.name), model.version)}
        self.forecasts = ThreadPoolExecutor(thread_name_prefix="forecast")
        # Requests read, queued or being forecast: each holds up to serve.max_bytes of body and
        # its parsed rows, so a burst without a bound held them all (40 bodies of 8 MB: 1.9 GB).
        self.under_way = 0

    async def invocations(self, request: Request) -> Response:
        """The forecasts of the request's windows, or a 503 while the server is answering as
        many requests as it takes at once."""
        most = self.limits.max_concurrent_requests
        if most is not None and self.under_way >= most:
            busy = Refused(
                503,
                "SERVER_BUSY",
                f"the server is answering {most} requests already, as many as it takes at once "
                "(serve.max_concurrent_requests); retry shortly.",
            )
            # The server's capacity, not the client's request: an operator may raise the bound.
            log.warning("a request was refused (HTTP 503): %s", busy)
            return _error(busy, {"Retry-After": str(BUSY_RETRY_AFTER_S)})
        self.under_way += 1
        try:
            return await self._forecast_request(request)
        finally:
            self.under_way -= 1

    async def _forecast_request(self, request: Request) -> Response:
        """The request's body read within the limits and forecast, or the refusal that says
        why not."""
        from starlette.requests import ClientDisconnect
        from starlette.responses import Response

        limits = self.limits
        body = None
        try:
            body = await bounded_body(request, limits.max_bytes, limits.read_timeout_s)
            content_type = request.headers.get("content-type", "")
            # Not the loop's default executor, which closing the loop waits for: a stop then
            # ends within serve.shutdown_timeout_s even while a forecast is under way.
            result = await asyncio.get_running_loop().run_in_executor(
                self.forecasts, answer, self.model, body, content_type, limits
            )
        except Refused as refused:
            if refused.code == TIMED_OUT:  # a client that stalled, as one that hangs up
                log.info("a request was refused (HTTP 408), nothing was forecast: %s", refused)
            return _error(refused)
        except asyncio.CancelledError:  # stopping, and serve.shutdown_timeout_s ran out
            stage = "read" if body is None else "answered"
            log.warning("a request not yet %s when the server stopped was cut off", stage)
            return _error(
                Refused(
                    503, "SERVER_STOPPING", f"the server stopped before this request was {stage}."
                )
            )
        except ClientDisconnect:  # the client's doing, not a failure of the server
            log.info("a client hung up before its request was read in full; nothing was forecast")
            return _error(
                Refused(400, "CLIENT_DISCONNECTED", "the request ended before its body was read.")
            )
        except Exception:  # the log keeps the traceback; the client gets one sentence
            log.exception("forecasting a request failed")
            return _error(
                Refused(500, "INTERNAL_ERROR", "the server failed to forecast; see its log.")
            )
        return Response(result, headers=self.served, media_type="application/json")


def _error(refused: Refused, headers: Mapping[str, str] | None = None) -> Response:
    """The JSON error body every refusal is answered with, under its HTTP status."""
    from starlette.responses import Response

    body = json.dumps({"error_code": refused.code, "message": str(refused)})
    return Response(
        body, status_code=refused.status, headers=headers, media_type="application/json"
    )


async def _not_served(request: Request, exc: Exception) -> Response:
    """A path or method not served, as the JSON error body: Starlette's own 404 and 405 are
    plain text."""
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    code = {404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code)
    message = (
        f"{request.method} {request.url.path} is not served; POST windows to /invocations "
        "(GET /ping, /health or /version)."
    )
    return _error(Refused(exc.status_code, code or "BAD_REQUEST", message), exc.headers)


async def _ping(request: Request) -> Response:
    """/ping and /health: an answer at all says the server is up."""
    from starlette.responses import Response

    return Response("\n", media_type="application/json")


def _version_endpoint() -> Endpoint:
    """/version: the MLflow version the server runs, as MLflow's own scoring server answers."""
    from mlflow.version import VERSION
    from starlette.responses import Response

    async def version(request: Request) -> Response:
        return Response(VERSION, media_type="application/json")

    return version


def run_serve(cfg: DictConfig) -> None:
    """Resolve the version, load it verified, serve it until interrupted."""
    import uvicorn

    # A stop before it serves is noted, not raised: an exception from a signal handler is
    # dropped where the signal lands in a garbage collector's callback (the server then served
    # on) and aborts the process where it lands in torch's C++ code (the copy left behind). It
    # ends by the signal once the step it came in has finished, or failed.
    stopped: list[int] = []
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, lambda number, frame: stopped.append(number))
    try:
        with tempfile.TemporaryDirectory(prefix="stockcast-serve-") as download_dir:
            model = open_model(cfg, download_dir)
        limits = Limits(
            int(cfg.serve.max_rows),
            int(cfg.serve.max_bytes),
            int(cfg.serve.max_concurrent_requests),
            float(cfg.serve.read_timeout_s),
        )
        app = build_app(model, limits)
        host, port = listen_host(str(cfg.serve.host)), int(cfg.serve.port)
        # Bound here, before saying it serves: uvicorn's own bind failure was its log line and
        # exit code 3 after this process had announced the address.
        listening = bound_socket(host, port)
    finally:
        if stopped:  # stopped, whether it then loaded or failed (a registry that timed out)
            end_by_signal(stopped[0])
    signed = OmegaConf.select(cfg, "registry.signing.public_key")
    checked = "hash and signature" if signed else "hash"
    log.info(
        "serving %s (files verified against its registered %s) on %s",
        model.label,
        checked,
        invocations_url(host, listening.getsockname()[1]),
    )
    timeout = int(cfg.serve.shutdown_timeout_s)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=timeout)
    )
    run_until_stopped(server, listening, stopped)
