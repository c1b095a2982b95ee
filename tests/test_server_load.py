"""The scoring server under load, in this process: a burst beyond
`serve.max_concurrent_requests` is refused before its body is read."""

from __future__ import annotations

import asyncio
import json
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import yaml

from stockcast.forecasting.frame import forecast_frame, forecast_records
from stockcast.paths import PROJECT_ROOT
from stockcast.serving.server import Limits, build_app

WINDOW = [101.2, 101.9, 102.4, 101.8, 102.0, 102.7, 103.1, 102.9, 103.5, 104.0]
BODY = json.dumps({"inputs": [WINDOW]}).encode()
SERVE = yaml.safe_load((PROJECT_ROOT / "configs" / "serve.yaml").read_text())["serve"]


async def request(app: Any, body: bytes) -> tuple[int, dict[str, str], dict[str, Any], int]:
    """(status, headers, JSON body, bytes the app pulled) of one POST to /invocations."""
    pending, pulled, sent = [body], [0], []

    async def receive() -> dict[str, Any]:
        if not pending:
            await asyncio.sleep(3600)  # the client waits for its answer
        chunk = pending.pop()
        pulled[0] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/invocations",
        "raw_path": b"/invocations",
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "http_version": "1.1",
        "server": ("127.0.0.1", 5001),
        "client": ("127.0.0.1", 1),
        "headers": [(b"content-type", b"application/json")],
    }
    await app(scope, receive, send)
    headers = {key.decode(): value.decode() for key, value in sent[0]["headers"]}
    answer = json.loads(b"".join(message.get("body", b"") for message in sent[1:]))
    return sent[0]["status"], headers, answer, pulled[0]


def test_a_request_beyond_max_concurrent_requests_is_a_503_before_its_body_is_read() -> None:
    release = threading.Event()

    def records(rows: Any) -> Any:
        release.wait(timeout=30)  # a slow forecast: the requests before it stay under way
        point = np.asarray(rows, dtype=np.float64)[:, -1:]
        return forecast_records(point, {})

    model = SimpleNamespace(name="m", version=1, records=records)
    app = build_app(model, Limits(int(SERVE["max_rows"]), int(SERVE["max_bytes"]), 2))

    async def burst() -> list[tuple[int, dict[str, str], dict[str, Any], int]]:
        under_way = [asyncio.create_task(request(app, BODY)) for _ in range(2)]
        await asyncio.sleep(0.2)  # both read and being forecast
        beyond = await request(app, BODY)
        release.set()
        answered = [await task for task in under_way]
        return [beyond, *answered, await request(app, BODY)]

    (status, headers, answer, pulled), *answered = asyncio.run(burst())
    assert (status, pulled) == (503, 0)
    assert headers["retry-after"] == "1"
    assert answer == {
        "error_code": "SERVER_BUSY",
        "message": "the server is answering 2 requests already, as many as it takes at once "
        "(serve.max_concurrent_requests); retry shortly.",
    }
    # The two under way, and one after them (their places freed), are answered.
    assert [status for status, *_ in answered] == [200, 200, 200]
    assert answered[-1][2] == {"predictions": [{"forecast_1": 104.0}]}


def test_the_served_answer_is_the_frame_s_records_value_for_value() -> None:
    """The server writes its answer straight from the arrays: the same JSON, to the last digit
    and column, as the DataFrame's records it wrote before."""
    generator = np.random.default_rng(0)
    point = generator.normal(100, 30, size=(7, 5))
    point[0, 0], point[1, 1] = -0.0, 1e300
    bands = {
        level: (point - width * generator.random((7, 5)), point + width * generator.random((7, 5)))
        for level, width in (("80", 1.0), ("95", 3.0), ("99", 1e-12))
    }
    records = forecast_records(point, bands)
    assert records == forecast_frame(point, bands).to_dict(orient="records")
    assert json.dumps(records) == json.dumps(forecast_frame(point, bands).to_dict("records"))
    assert list(records[0])[:6] == [*(f"forecast_{h}" for h in range(1, 6)), "lower_80_1"]
    assert all(type(value) is float for row in records for value in row.values())
