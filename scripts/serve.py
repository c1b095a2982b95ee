"""Serve a registered model over REST: `python scripts/serve.py model.alias=champion`.

Unlike plain `mlflow models serve`, which runs whatever the model folder holds, this verifies the
version's files against the hash recorded at registration (and its signature, with
`registry.signing.public_key` set) first, and answers bad input with a
one-sentence HTTP 400 (no stack trace). Options: configs/serve.yaml (`serve.host`, `serve.port`).
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
