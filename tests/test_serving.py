"""The registered model behind a real `mlflow models serve`: same numbers as scripts/predict.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MODEL
from tests.test_predict import predict, read_json

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"  # never listen beyond this machine
READY_TIMEOUT_S = 120
REQUEST_TIMEOUT_S = 10
STOP_TIMEOUT_S = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_S) as response:
        return response.status


def post_json(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
        return json.loads(response.read())


def wait_until_ready(server: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if get(f"{url}/ping") == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"the server was not ready after {READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (the server and its workers), then SIGKILL if needed."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture
def store(registered_store: Path) -> Path:
    return registered_store


@pytest.fixture(scope="module")
def server_url(registered_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    env = os.environ | {
        "MLFLOW_TRACKING_URI": f"sqlite:///{registered_store}/mlruns.db",
        "PYTHONWARNINGS": "ignore",
        # `mlflow models serve` starts `uvicorn` by name: it must come from this environment
        # even when the environment is not activated (as in CI).
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        *(sys.executable, "-m", "mlflow", "models", "serve"),
        *("-m", f"models:/{MODEL}/1", "--env-manager", "local", "-h", HOST, "-p", str(port)),
    ]
    with log.open("w") as sink:
        server = subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://{HOST}:{port}"
    try:
        wait_until_ready(server, url, log)
        yield url
    finally:
        stop(server)
    assert server.poll() is not None


def test_served_model_answers_with_the_same_forecast_as_predict(
    store: Path, server_url: str, tmp_path: Path
) -> None:
    values = [round(100 + 0.25 * i + 0.8 * np.sin(i), 3) for i in range(10)]
    served = post_json(f"{server_url}/invocations", {"inputs": [values]})
    run_dir = tmp_path / "run"
    predict(store, run_dir, "model.version=1", f"input.values=[{','.join(map(str, values))}]")
    rows = read_json(run_dir)["forecast"]
    assert len(served["predictions"]) == 1
    answer = served["predictions"][0]
    np.testing.assert_allclose(
        [answer[f"forecast_{h}"] for h in range(1, 6)], [r["forecast"] for r in rows], rtol=1e-9
    )
    np.testing.assert_allclose(
        [answer[f"upper_95_{h}"] for h in range(1, 6)], [r["upper_95"] for r in rows], rtol=1e-9
    )


def test_served_model_takes_several_rows_and_refuses_a_wrong_width(server_url: str) -> None:
    rows = [list(np.linspace(100, 105, 10)), list(np.linspace(50, 48, 10))]
    served = post_json(f"{server_url}/invocations", {"inputs": rows})
    assert len(served["predictions"]) == 2
    assert list(served["predictions"][0])[:5] == [f"forecast_{h}" for h in range(1, 6)]
    for bad in ([[100.0, 101.0, 102.0]], [[100.0] * 9 + ["abc"]]):
        with pytest.raises(urllib.error.HTTPError) as err:
            post_json(f"{server_url}/invocations", {"inputs": bad})
        assert err.value.code == 400, bad
