"""The verified scoring server behind `scripts/serve.py` / `make serve`.

`mlflow models serve` loads whatever a model folder holds (its `pyfunc_model.py` runs as is) and
answers a model's refusal (a `ValueError`: NaN input, a non-finite forecast) with "unexpected
error" plus the server's full stack trace, install paths included (`invocations` in
`mlflow.pyfunc.scoring_server` attaches `traceback.format_exc()` to any non-MLflow exception, and
no setting turns that off). This server loads a registered version only from a private copy that
matches the hash its registration recorded, then serves MLflow's own scoring app (same routes:
/invocations, /ping, /health, /version) with two changes: the model's refusals are 400s whose
body is their one-sentence message, and no error body carries a stack trace.
"""

from __future__ import annotations

import json
import logging
import tempfile
from typing import Any

from omegaconf import DictConfig

from stockcast.serving.model import open_model

log = logging.getLogger(__name__)


PREDICTION_FAILED_SEPARATOR = "\nError: "  # MLflow prefixes errors with the input's repr


class CleanRefusals:
    """The pyfunc, its ValueErrors turned into MLflow's INVALID_PARAMETER_VALUE (HTTP 400),
    which the scoring app reports by message, without a traceback."""

    def __init__(self, pyfunc: Any) -> None:
        self.pyfunc = pyfunc
        self.metadata = pyfunc.metadata

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        try:
            return self.pyfunc.predict(data, params=params)
        except ValueError as err:
            raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from None


def clean_error_body(body: bytes) -> bytes | None:
    """An MLflow error body without `stack_trace` and without the input's repr, or None when
    the body is not one."""
    try:
        error = json.loads(body)
    except ValueError:
        return None
    if not isinstance(error, dict) or "message" not in error:
        return None
    message = str(error["message"]).split(PREDICTION_FAILED_SEPARATOR)[-1].strip()
    cleaned = {"error_code": error.get("error_code", "BAD_REQUEST"), "message": message}
    return json.dumps(cleaned).encode()


def build_app(pyfunc: Any) -> Any:
    """MLflow's scoring app for this model, with error bodies cleaned."""
    from fastapi import Request
    from fastapi.responses import Response
    from mlflow.pyfunc.scoring_server import init

    app = init(CleanRefusals(pyfunc))

    @app.middleware("http")
    async def scrub_errors(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        if response.status_code < 400:
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])
        cleaned = clean_error_body(body)
        return Response(
            content=body if cleaned is None else cleaned,
            status_code=response.status_code,
            media_type=response.media_type or "application/json",
        )

    return app


def run_serve(cfg: DictConfig) -> None:
    """Resolve the version, load it verified, serve it until interrupted."""
    import uvicorn

    with tempfile.TemporaryDirectory(prefix="stockcast-serve-") as download_dir:
        model = open_model(cfg, download_dir)
    app = build_app(model.pyfunc)
    host, port = str(cfg.serve.host), int(cfg.serve.port)
    log.info(
        "serving %s (files verified against its registered hash) on http://%s:%d/invocations",
        model.label,
        host,
        port,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
