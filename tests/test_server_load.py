"""The scoring server under load, in this process: a burst beyond
`serve.max_concurrent_requests` is refused before its body is read."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from stockcast.forecasting.frame import forecast_frame, forecast_records
from stockcast.paths import PROJECT_ROOT
from stockcast.serving.server import Limits, build_app
from tests.asgi import http_scope

WINDOW = [101.2, 101.9, 102.4, 101.8, 102.0, 102.7, 103.1, 102.9, 103.5, 104.0]
BODY = json.dumps({"inputs": [WINDOW]}).encode()
SERVE = yaml.safe_load((PROJECT_ROOT / "configs" / "serve.yaml").read_text())["serve"]


async def request(
    app: Any, body: bytes, more_body: bool = False
) -> tuple[int, dict[str, str], dict[str, Any], int]:
    """(status, headers, JSON body, bytes the app pulled) of one POST to /invocations whose body
    arrives in one chunk (`more_body`: then nothing more, the client still connected)."""
    pending, pulled, sent = [body], [0], []

    async def receive() -> dict[str, Any]:
        if not pending:
            await asyncio.sleep(3600)  # the client waits for its answer, or stalls
        chunk = pending.pop()
        pulled[0] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": more_body}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(http_scope(), receive, send)
    headers = {key.decode(): value.decode() for key, value in sent[0]["headers"]}
    answer = json.loads(b"".join(message.get("body", b"") for message in sent[1:]))
    return sent[0]["status"], headers, answer, pulled[0]


def test_a_request_beyond_max_concurrent_requests_is_a_503_before_its_body_is_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()

    def records(rows: Any) -> Any:
        release.wait(timeout=30)  # a slow forecast: the requests before it stay under way
        point = np.asarray(rows, dtype=np.float64)[:, -1:]
        return forecast_records(point, {})

    model = SimpleNamespace(name="m", version=1, previous_time_window=10, records=records)
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
    # Logged, as the server logs its other refusals: the log is where an operator sees it.
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"a request was refused (HTTP 503): {answer['message']}")
    ]
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


@pytest.mark.parametrize("drift_free", [True, False])
def test_a_served_quantile_model_measures_each_window_s_moves_once(
    monkeypatch: pytest.MonkeyPatch, drift_free: bool
) -> None:
    """The still windows' test and the band unit read the same moves: measured once per call,
    the bands are those of measuring them twice, to the last bit."""
    from stockcast.forecasting import intervals as unit_module
    from stockcast.forecasting.intervals import recorded_unit, volatility_scale
    from stockcast.forecasting.output_guard import guarded_forecast
    from stockcast.forecasting.quantiles import (
        conformalized_bands,
        quantile_bands,
        served_quantiles,
    )
    from stockcast.serving import pyfunc_model
    from stockcast.serving.pyfunc_model import PriceForecastModel

    quantiles = (0.025, 0.1, 0.5, 0.9, 0.975)
    generator = np.random.default_rng(1)
    prices = 100 + np.cumsum(generator.normal(0, 1, size=(4, 10)), axis=1)
    prices[1] = 50.0  # a window that did not move
    outputs = np.sort(prices[:, -1:, None] + generator.normal(0, 1, size=(4, 5, 5)), axis=1)
    served = PriceForecastModel()
    served.net = SimpleNamespace(
        quantiles=quantiles,
        point_index=2,
        quantile_forecast=lambda rows: torch.as_tensor(outputs),
    )
    served.allow_non_positive = False
    served.intervals = {
        "bounds": {},
        "min_relative_scale": 1e-4,
        "scale_span": 6,
        "scale_drift_free": drift_free,
        "still_unit": 0.02,
        "still_quantile_offsets": (np.linspace(-0.05, 0.05, 5)[:, None] * np.ones(5)).tolist(),
        "corrections": {"80": [0.3] * 5, "95": [-0.2, 0.1, 0.4, 0.5, 0.6]},
    }
    measured = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        measured.append(args)
        return window_moves(*args, **kwargs)

    window_moves = unit_module.window_moves
    point, bands = served.forecast(prices)
    monkeypatch.setattr(unit_module, "window_moves", counted)
    monkeypatch.setattr(pyfunc_model, "window_moves", counted)
    served.forecast(prices)
    assert len(measured) == (1 if drift_free else 2)

    monkeypatch.undo()
    reference = served_quantiles(outputs, prices, quantiles, 2, served.intervals)
    unit = volatility_scale(prices, 1e-4, **recorded_unit(served.intervals))
    expected = conformalized_bands(
        quantile_bands(reference, quantiles),
        reference[:, 2, :],
        unit,
        served.intervals["corrections"],
    )
    expected_point, expected = guarded_forecast(prices, reference[:, 2, :], expected, False, None)
    np.testing.assert_array_equal(point, expected_point)
    assert list(bands) == list(expected) == ["80", "95"]
    for level in bands:
        np.testing.assert_array_equal(bands[level][0], expected[level][0])
        np.testing.assert_array_equal(bands[level][1], expected[level][1])
    assert not np.array_equal(reference[1], outputs[1]), "the still window was widened"


def test_a_body_that_stops_arriving_is_a_408_and_frees_its_place(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that sends its headers and part of its body, then nothing: before, it held its
    place among serve.max_concurrent_requests until it hung up, so that many such clients
    locked every other request out with 503s."""
    caplog.set_level(logging.INFO, logger="stockcast.serving.server")
    model = SimpleNamespace(
        name="m",
        version=1,
        previous_time_window=10,
        records=lambda rows: forecast_records(np.asarray(rows, dtype=np.float64)[:, -1:], {}),
    )
    limits = Limits(int(SERVE["max_rows"]), int(SERVE["max_bytes"]), 1, 0.2)
    app = build_app(model, limits)

    async def stalled_then_whole() -> list[tuple[int, dict[str, str], dict[str, Any], int]]:
        stalled = await asyncio.wait_for(request(app, BODY[:10], more_body=True), timeout=10)
        return [stalled, await request(app, BODY)]

    (status, _, answer, pulled), (after, *_) = asyncio.run(stalled_then_whole())
    assert (status, pulled) == (408, 10)
    assert answer == {
        "error_code": "REQUEST_TIMEOUT",
        "message": "the request's body had not arrived in full 0.2 s after it began "
        "(serve.read_timeout_s); send the whole body at once.",
    }
    assert after == 200
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", f"a request was refused (HTTP 408), nothing was forecast: {answer['message']}")
    ]
