"""Serve a registered model over REST: `python scripts/serve.py model.alias=champion`.

Unlike plain `mlflow models serve`, which runs whatever the model folder holds, this verifies the
version's files against the hash recorded at registration (and its signature, with
`registry.signing.public_key` set) first, passes every window through the same guards as predict,
and answers in one sentence with no stack trace: HTTP 400 for bad input, 413 for a request too
large, 422 for a forecast the output guard refuses, 503 for one beyond those it answers at once
or still open when a stop's wait ran out. Options: configs/serve.yaml (`serve.host`,
`serve.port`, `serve.max_rows`, `serve.max_bytes`, `serve.max_concurrent_requests`,
`serve.read_timeout_s`, `serve.shutdown_timeout_s`) and configs/guard/ (`guard.max_range_multiple`).
"""

from typing import Any

from stockcast.config.task import hydra_task


def serve(cfg: Any) -> None:
    # Imported here so `--help` and config errors answer before torch and MLflow load.
    from stockcast.serving.server import run_serve

    run_serve(cfg)


main = hydra_task(serve, "serve", timed=False)

if __name__ == "__main__":
    main()
