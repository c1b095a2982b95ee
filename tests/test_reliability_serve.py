"""`scripts/serve.py`: the verified scoring server answers bad input with a clean HTTP 400 (one
sentence, no stack trace, no install path) and never a 200 holding NaN."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockcast.paths import PROJECT_ROOT
from tests.prewarmed import Forked, start_forked
from tests.reliability_helpers import PipelineRun, environment, shared_pipeline_run, start

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"
READY_TIMEOUT_S = 120
WINDOW = [101.2, 101.9, 102.4, 101.8, 102.0, 102.7, 103.1, 102.9, 103.5, 104.0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def post(url: str, body: str) -> tuple[int, str]:
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory, registered_store: Path) -> Iterator[str]:
    source: PipelineRun = shared_pipeline_run(tmp_path_factory, registered_store)
    port = free_port()
    logs = tmp_path_factory.mktemp("serve") / "logs"
    server = start(
        [
            "scripts/serve.py",
            f"registry.tracking_uri=sqlite:///{source.root}/mlruns.db",
            f"paths.log_dir={logs}",
            f"serve.port={port}",
        ]
    )

    def output() -> str:
        return (server.folder / "stderr").read_text(errors="replace")[-3000:]

    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if server.returncode is not None:
                pytest.fail(f"serve.py exited {server.returncode}:\n{output()}")
            try:
                urllib.request.urlopen(f"{url}/ping", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"serve.py not ready:\n{output()}")
                time.sleep(0.5)
        yield url
    finally:
        if server.returncode is None:
            server.process.terminate()
        server.communicate(timeout=30)


def test_the_model_header_is_latin_1_whatever_the_name() -> None:
    from stockcast.serving.server import model_header

    assert model_header("pipeline_stock_predictor", 3) == "pipeline_stock_predictor version 3"
    encoded = model_header("株価予測", 1)
    assert encoded == "%E6%A0%AA%E4%BE%A1%E4%BA%88%E6%B8%AC version 1"
    encoded.encode("latin-1")


def test_a_client_that_hangs_up_mid_body_is_no_server_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Starlette's ClientDisconnect fell into the catch-all: logged as a failure to forecast,
    with a traceback, as if the server were at fault."""
    import asyncio
    import logging
    from types import SimpleNamespace

    from stockcast.serving.server import Limits, build_app

    app = build_app(SimpleNamespace(name="m", version=1), Limits(max_rows=10, max_bytes=10_000))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/invocations",
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
    }
    arriving = iter(
        [{"type": "http.request", "body": b'{"inputs": [[1', "more_body": True}],
    )
    sent: list[dict] = []

    async def receive() -> dict:
        return next(arriving, {"type": "http.disconnect"})

    async def send(message: dict) -> None:
        sent.append(message)

    with caplog.at_level(logging.INFO, logger="stockcast.serving.server"):
        asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert caplog.records[0].getMessage() == (
        "a client hung up before its request was read in full; nothing was forecast"
    )


def serving(
    tmp_path_factory: pytest.TempPathFactory,
    registered_store: Path,
    script: str = "scripts/serve.py",
) -> tuple[Forked, int, Path]:
    """`script` serving the pipeline's model, stopped within 1 s (serve.shutdown_timeout_s),
    once it answers: the server, its port and its temporary folder."""
    source: PipelineRun = shared_pipeline_run(tmp_path_factory, registered_store)
    port, temporary = free_port(), tmp_path_factory.mktemp("tmp")
    server = start_forked(
        [
            script,
            f"registry.tracking_uri=sqlite:///{source.root}/mlruns.db",
            f"paths.log_dir={temporary / 'logs'}",
            f"serve.port={port}",
            "serve.shutdown_timeout_s=1",
        ],
        PROJECT_ROOT,
        environment() | {"TMPDIR": str(temporary)},
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            urllib.request.urlopen(f"http://{HOST}:{port}/ping", timeout=5)
            return server, port, temporary
        except (urllib.error.URLError, ConnectionError):
            assert server.returncode is None and time.monotonic() < deadline, "no answer"
            time.sleep(0.2)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stopped_server_leaves_no_copy_of_the_model(
    tmp_path_factory: pytest.TempPathFactory, registered_store: Path, stop: signal.Signals
) -> None:
    """`kill`, `docker stop` and a closed terminal stop the server by a signal: the private
    copy of the model goes with it, as after Ctrl-C. A client that never sends the rest of its
    request does not hold it up past `serve.shutdown_timeout_s`."""
    server, port, temporary = serving(tmp_path_factory, registered_store)
    stalled = socket.create_connection((HOST, port))
    stalled.sendall(
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n[[1"
    )
    time.sleep(0.5)  # the request is under way, its body a few bytes short of 1000
    os.kill(server.process.pid, stop)
    try:
        _, err = server.communicate(timeout=30)
    finally:
        stalled.close()
    # Ended by the signal, as a service manager counts a clean stop, with nothing left behind
    # (and Ctrl-C with no KeyboardInterrupt traceback).
    assert server.returncode == -stop
    assert not list(temporary.glob("stockcast-*"))
    assert "Traceback" not in err


STOPPED_WHILE_LOADING = """
import os, runpy, signal, sys, time
import stockcast.serving.server as server
from stockcast.registry.connection import RegistryError
opened = server.open_model
def stopped_after_the_copy(cfg, workdir):
    opened(cfg, workdir)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1)  # still loading: the stop waits for it
    if os.environ.get("LOADING_FAILS"):  # a registry that timed out after the stop
        raise RegistryError("cannot reach the model registry.")
server.open_model = stopped_after_the_copy
sys.argv[0] = "scripts/serve.py"
runpy.run_path("scripts/serve.py", run_name="__main__")
"""


@pytest.mark.parametrize("fails", [False, True])
def test_a_server_stopped_while_it_loads_ends_by_the_signal_and_leaves_no_copy(
    tmp_path_factory: pytest.TempPathFactory, registered_store: Path, fails: bool
) -> None:
    """A stop while the model loads (its verified copy made, not yet serving) ended with exit
    status 143, which a service manager counts as a failure, where a stop while serving ends
    by the signal; both now end by it once loading is done (or has failed), with nothing left
    behind and without serving."""
    source: PipelineRun = shared_pipeline_run(tmp_path_factory, registered_store)
    temporary = tmp_path_factory.mktemp("tmp")
    driver = tmp_path_factory.mktemp("driver") / "stopped_while_loading.py"
    driver.write_text(STOPPED_WHILE_LOADING)
    server = start_forked(
        [
            str(driver),
            f"registry.tracking_uri=sqlite:///{source.root}/mlruns.db",
            f"paths.log_dir={temporary / 'logs'}",
            f"serve.port={free_port()}",
        ],
        PROJECT_ROOT,
        environment() | {"TMPDIR": str(temporary)} | ({"LOADING_FAILS": "1"} if fails else {}),
    )
    out, err = server.communicate(timeout=READY_TIMEOUT_S)
    assert server.returncode == -signal.SIGTERM
    assert not list(temporary.glob("stockcast-*"))
    assert "serving" not in out + err, "a stop while loading never serves"


SLOW_FORECAST = """
import runpy, sys, time
import stockcast.serving.model as model
served = model.OpenModel.records
def slow(self, windows):
    time.sleep(60)  # a forecast far slower than serve.shutdown_timeout_s
    return served(self, windows)
model.OpenModel.records = slow
sys.argv[0] = "scripts/serve.py"
runpy.run_path("scripts/serve.py", run_name="__main__")
"""


def test_a_stop_cuts_off_a_forecast_under_way_after_the_shutdown_timeout(
    tmp_path_factory: pytest.TempPathFactory, registered_store: Path
) -> None:
    """The request was read and is being forecast when the server is stopped: its client is
    told so (503) and the server ends by the signal once serve.shutdown_timeout_s has passed,
    not when the forecast would have finished."""
    driver = tmp_path_factory.mktemp("driver") / "slow_forecast.py"
    driver.write_text(SLOW_FORECAST)
    server, port, temporary = serving(tmp_path_factory, registered_store, str(driver))
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request(
        "POST",
        "/invocations",
        json.dumps({"inputs": [WINDOW]}),
        {"Content-Type": "application/json"},
    )
    time.sleep(1.0)  # read, and being forecast
    stopped = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)
    answer = connection.getresponse()
    assert answer.status == 503
    assert json.loads(answer.read())["message"] == (
        "the server stopped before this request was answered."
    )
    server.communicate(timeout=30)
    assert server.returncode == -signal.SIGTERM
    assert time.monotonic() - stopped < 20, "it ended long before the forecast would have"
    assert not list(temporary.glob("stockcast-*"))


def test_a_valid_window_is_forecast_and_the_answer_names_the_version(server_url: str) -> None:
    body = json.dumps({"inputs": [WINDOW]}).encode()
    request = urllib.request.Request(
        f"{server_url}/invocations", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        row = json.loads(response.read())["predictions"][0]
        # The server keeps the version it started with: the answer says which it is.
        assert response.headers["X-Stockcast-Model"] == "pipeline_stock_predictor version 1"
    assert len([key for key in row if key.startswith("forecast_")]) == 5


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        (
            '{"inputs": [[NaN, 101.9, 102.4, 101.8, 102.0, 102.7, 103.1, 102.9, 103.5, 104.0]]}',
            "the input holds nan at position 1; send finite prices",
        ),
        (
            '{"inputs": [[null, 101.9, 102.4, 101.8, 102.0, 102.7, 103.1, 102.9, 103.5, 104.0]]}',
            "the input holds None at position 1, which is not a number",
        ),
        (json.dumps({"inputs": [[1e300] * 10]}), "too large for the model's float32 arithmetic"),
        (json.dumps({"inputs": [[True, *WINDOW[1:]]]}), "holds True at position 1, which is not"),
        (json.dumps({"inputs": [[-10.0, *WINDOW[1:]]]}), "but prices are above 0"),
        (json.dumps({"inputs": [[1.0, 2.0, 3.0]]}), "exactly 10 prices"),
        ('{"inputs": [["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]]}', ""),
    ],
)
def test_bad_input_is_a_clean_400(server_url: str, body: str, phrase: str) -> None:
    status, answer = post(f"{server_url}/invocations", body)
    assert 400 <= status < 500, answer
    error = json.loads(answer)
    assert set(error) == {"error_code", "message"}
    assert phrase in error["message"]
    for leak in ("Traceback", "site-packages", 'File "', str(PROJECT_ROOT)):
        assert leak not in answer


def test_a_body_declared_too_large_is_a_413_before_any_of_it_is_sent(server_url: str) -> None:
    host, port = server_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n"
        )
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        status, answer = reply.status, json.loads(reply.read())
    assert status == 413, answer
    assert answer["message"].startswith("the request holds 100000000 bytes, more than the 8000000")


def test_a_wrong_port_is_one_sentence(tmp_path: Path) -> None:
    from tests.conftest import run_cli
    from tests.reliability_helpers import assert_one_sentence_refusal

    result = run_cli(
        ["scripts/serve.py", "serve.port=70000", f"paths.log_dir={tmp_path}"], tmp_path, check=False
    )
    assert_one_sentence_refusal(result, "serve.port is 70000; it must be a port in 1..65535")


def test_the_url_the_server_announces_is_one_a_client_can_use() -> None:
    """Served on an IPv6 address, it announced http://::1:5001/invocations, which neither curl
    nor a browser reads: the address goes in brackets."""
    from stockcast.serving.server_process import invocations_url

    assert invocations_url("127.0.0.1", 5001) == "http://127.0.0.1:5001/invocations"
    assert invocations_url("::1", 5001) == "http://[::1]:5001/invocations"
    assert invocations_url("localhost", 80) == "http://localhost:80/invocations"


def test_an_ipv6_serve_host_written_in_brackets_is_listened_on() -> None:
    """serve.host=[::1], as the announced URL and every client write the address, was refused as
    "not an address this machine can listen on" without a word about the brackets."""
    import socket

    from stockcast.serving.server_process import bound_socket, invocations_url, listen_host

    assert listen_host("[::1]") == "::1"
    assert listen_host("::1") == "::1"
    assert listen_host("127.0.0.1") == "127.0.0.1"
    assert listen_host("[localhost]") == "[localhost]"  # no address in brackets: refused as it is
    if not socket.has_ipv6:
        pytest.skip("this machine has no IPv6")
    listening = bound_socket(listen_host("[::1]"), 0)
    try:
        port = listening.getsockname()[1]
        assert listening.getsockname()[0] == "::1"
        assert invocations_url(listen_host("[::1]"), port) == f"http://[::1]:{port}/invocations"
    finally:
        listening.close()
