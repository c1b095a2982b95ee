"""The input and output guards: predict and serve refuse the same bad windows in the same
sentence, a price model never answers a negative price, an absurd forecast is an error, and the
server refuses requests too large before reading them."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from stockcast.config.schema import validate_config
from stockcast.errors import ConfigError, DataError, ForecastRefused
from stockcast.forecasting.frame import forecast_frame
from stockcast.forecasting.guard import price_rows, refuse_label_columns
from stockcast.forecasting.output_guard import guarded_forecast, series_names
from stockcast.paths import PROJECT_ROOT
from stockcast.prediction import task
from stockcast.registry.store import ModelRegistry
from stockcast.serving.model import OpenModel, open_version
from stockcast.serving.server import Limits, build_app
from tests.asgi import http_scope
from tests.conftest import MODEL
from tests.test_predict import predict, read_json, refused

WINDOW = [101.2, 101.9, 102.4, 101.8, 102.0, 102.7, 103.1, 102.9, 103.5, 104.0]
GUARD = yaml.safe_load((PROJECT_ROOT / "configs" / "guard" / "default.yaml").read_text())
SERVE = yaml.safe_load((PROJECT_ROOT / "configs" / "serve.yaml").read_text())["serve"]
LIMITS = Limits(int(SERVE["max_rows"]), int(SERVE["max_bytes"]))
NOT_A_NUMBER = "which is not a number; send prices as plain numbers (no text, booleans or nulls)."
NOT_POSITIVE = "but prices are above 0; send prices, or use a model trained with "
RESCALE = "for the model's float32 arithmetic; rescale the prices, e.g. "

# (the value at position 3 of a window, as Hydra reads it, the sentence both refuse with)
BAD_VALUES = [
    (-10.0, "-10.0", f"the input holds -10 at position 3, {NOT_POSITIVE}"),
    (0.0, "0.0", f"the input holds 0 at position 3, {NOT_POSITIVE}"),
    (1e-30, "1e-30", f"the input holds 1e-30 at position 3, too small {RESCALE}multiply"),
    (1e39, "1e39", f"the input holds 1e+39 at position 3, too large {RESCALE}divide"),
    (True, "true", f"the input holds True at position 3, {NOT_A_NUMBER}"),
    ("101.9", "'101.9'", f"the input holds '101.9' at position 3, {NOT_A_NUMBER}"),
    (None, "null", f"the input holds None at position 3, {NOT_A_NUMBER}"),
    (float("inf"), "inf", "the input holds inf at position 3; send finite prices (no NaN"),
    (float("nan"), "nan", "the input holds nan at position 3; send finite prices (no NaN"),
]


def with_value(value: Any) -> list[Any]:
    return [*WINDOW[:2], value, *WINDOW[3:]]


# -- a request through the scoring app, in this process ------------------------------------


def call(
    app: Any,
    chunks: Sequence[bytes],
    headers: dict[str, str],
    path: str = "/invocations",
    method: str = "POST",
) -> tuple[int, dict[str, Any], int]:
    """(status, JSON body, bytes the app pulled) of one request whose body arrives in
    `chunks`."""
    pending, pulled, sent = list(chunks), [0], []

    async def receive() -> dict[str, Any]:
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        pulled[0] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(http_scope(path, method, headers), receive, send))
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return sent[0]["status"], json.loads(body), pulled[0]


def post(app: Any, payload: Any) -> tuple[int, dict[str, Any]]:
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    status, answer, _ = call(app, [body], headers)
    return status, answer


@pytest.fixture(scope="module")
def served(registered_store: Path, tmp_path_factory: pytest.TempPathFactory) -> OpenModel:
    """Version 1 as `scripts/serve.py` opens it (the guard's default range multiple)."""
    registry = ModelRegistry(f"sqlite:///{registered_store}/mlruns.db", MODEL)
    model = open_version(registry, registry.resolve(version=1), tmp_path_factory.mktemp("model"))
    return replace(model, max_range_multiple=float(GUARD["max_range_multiple"]))


@pytest.fixture(scope="module")
def app(served: OpenModel) -> Any:
    return build_app(served, LIMITS)


# -- the input guard -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("value", "override", "sentence"), BAD_VALUES)
def test_predict_and_serve_refuse_a_bad_price_in_the_same_sentence(
    registered_store: Path, tmp_path: Path, app: Any, value: Any, override: str, sentence: str
) -> None:
    values = ",".join([*map(str, WINDOW[:2]), override, *map(str, WINDOW[3:])])
    by_predict = refused(registered_store, tmp_path, f"input.values=[{values}]")
    status, answer = post(app, {"inputs": [with_value(value)]})
    assert status == 400
    assert answer == {"error_code": "INVALID_PARAMETER_VALUE", "message": by_predict[7:]}
    assert by_predict.startswith(f"error: {sentence}")


@pytest.mark.slow
def test_a_decimal_too_small_for_a_float_is_refused_as_such_not_as_0(
    registered_store: Path, tmp_path: Path, app: Any
) -> None:
    """`1e-400` reads as 0.0 in Hydra, JSON and CSV alike: the price model refused "the input
    holds 0", a value the user never sent. It is refused as too small to rescale, everywhere in
    the same sentence; a 0 written as `0e-400` is still a 0."""
    rest = ",".join(map(str, WINDOW[1:]))
    sentence = (
        "the input holds a decimal too small for a float (not 0, yet it reads as 0); rescale "
        "the prices, e.g. multiply them by a power of 10."
    )
    assert refused(registered_store, tmp_path, f"input.values=[1e-400,{rest}]") == (
        f"error: {sentence}"
    )
    header = ",".join(f"p{i}" for i in range(len(WINDOW)))
    for body, content_type in (
        (f'{{"inputs": [[-2.5E-999, {rest}]]}}', "application/json"),
        (f"{header}\n0.{'0' * 400}1,{rest}\n", "text/csv"),
    ):
        headers = {"content-type": content_type, "content-length": str(len(body))}
        status, answer, _ = call(app, [body.encode()], headers)
        assert (status, answer["message"]) == (400, sentence)
    message = refused(registered_store, tmp_path, f"input.values=[0e-400,{rest}]")
    assert message.startswith(f"error: the input holds 0 at position 1, {NOT_POSITIVE}")


def test_several_rows_are_named_by_row_and_position() -> None:
    rows = [WINDOW, with_value(-1.0), with_value(-2.0)]
    with pytest.raises(DataError) as caught:
        price_rows(rows, len(WINDOW), allow_non_positive=False)
    assert str(caught.value).startswith("the input holds -1 in row 2 at position 3 (and 1 more), ")


def test_a_long_text_is_quoted_short() -> None:
    with pytest.raises(DataError) as caught:
        price_rows([["x" * 10_000, *WINDOW[1:]]], len(WINDOW), allow_non_positive=False)
    assert str(caught.value).startswith(f"the input holds '{'x' * 39}... at position 1, which")


def test_a_boolean_column_of_a_dataframe_is_not_a_price() -> None:
    frame = pd.DataFrame([WINDOW, WINDOW]).astype(object)
    frame.iloc[1, 4] = True
    with pytest.raises(DataError, match=r"^the input holds True in row 2 at position 5, which"):
        price_rows(frame, len(WINDOW), allow_non_positive=False)


def test_a_panels_ticker_sent_with_each_window_is_named_as_no_price() -> None:
    """A ticker column beside each window was refused as 'rows of shape (2, 11)', which did not
    say that the model reads no series' name."""
    frame = pd.DataFrame([WINDOW, WINDOW], columns=[f"p{i}" for i in range(len(WINDOW))])
    frame.insert(0, "Ticker", ["AAA", "BBB"])
    with pytest.raises(DataError) as caught:
        price_rows(frame, len(WINDOW), allow_non_positive=False)
    assert str(caught.value) == (
        "the input's column 'Ticker' holds 'AAA', not a price; a model reads no series' name "
        "(it forecasts any series from its window), so send each window's 10 prices alone."
    )
    with pytest.raises(DataError, match=r"^the input's position 11 holds 'AAA', not a price;"):
        price_rows([[*WINDOW, "AAA"]], len(WINDOW), allow_non_positive=False)
    # A null beside a window is no name: the width is what is wrong.
    with pytest.raises(DataError, match=r"exactly 10 prices .*got rows of shape \(1, 11\)"):
        price_rows([[None, *WINDOW]], len(WINDOW), allow_non_positive=False)


class ColumnSlicesCounted(np.ndarray):
    """A grid that counts the whole columns sliced out of it."""

    columns_sliced = 0

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple) and key and key[0] == slice(None):
            ColumnSlicesCounted.columns_sliced += 1
        return super().__getitem__(key)


def test_a_row_far_wider_than_the_window_is_refused_by_its_width_at_once() -> None:
    """Each column of a row of two million numbers was sliced out to see whether it was a
    ticker beside the window (4.4 s) before the row was refused by its width: a column of names
    is looked for only where the first row holds enough text."""
    grid = np.array([[1.5] * 1000], dtype=object).view(ColumnSlicesCounted)
    ColumnSlicesCounted.columns_sliced = 0
    refuse_label_columns(grid, len(WINDOW), None)
    assert ColumnSlicesCounted.columns_sliced == 0
    with pytest.raises(DataError, match=r"got rows of shape \(1, 2000000\)\.$"):
        price_rows([[1.5] * 2_000_000], len(WINDOW), allow_non_positive=False)
    # A name in the first row alone is no column of names: the width is what is wrong.
    with pytest.raises(DataError, match=r"got rows of shape \(2, 11\)\.$"):
        price_rows([["AAA", *WINDOW], [1.0, *WINDOW]], len(WINDOW), allow_non_positive=False)
    with pytest.raises(DataError, match=r"^the input's position 2 holds 'x', not a price;"):
        price_rows([[1.0, "x", "y", *WINDOW[:9]]], 10, allow_non_positive=False)


class TakesAnyValue:
    """The served model's code as a model trained with data.allow_non_positive=true loads it."""

    def __init__(self, served: OpenModel) -> None:
        self.model = copy.copy(served.pyfunc.unwrap_python_model())
        self.model.allow_non_positive = True

    def predict(self, rows: Any) -> Any:
        return self.model.predict(None, rows)


def as_trained_on_any_value(served: OpenModel) -> OpenModel:
    metadata = served.metadata | {"allow_non_positive": True}
    return replace(served, pyfunc=TakesAnyValue(served), metadata=metadata)


@pytest.mark.slow
def test_a_model_trained_on_non_positive_values_takes_them(served: OpenModel) -> None:
    # Recorded in the metadata, and passed to the model folder's own code at export.
    assert served.metadata["allow_non_positive"] is False
    assert served.pyfunc.unwrap_python_model().allow_non_positive is False
    anything = as_trained_on_any_value(served)
    window = np.array(WINDOW) - 110.0  # every value below zero
    status, answer = post(build_app(anything, LIMITS), {"inputs": [window.tolist()]})
    assert status == 200, answer
    assert answer["predictions"][0]["forecast_1"] < 0  # not floored: these are not prices


# -- the output guard ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_price_model_floors_negative_band_edges_at_zero(
    served: OpenModel, app: Any, registered_store: Path, tmp_path: Path
) -> None:
    # Swinging near zero: the bands (in units of the window's moves) reach far below 0.
    window = [0.5, 5.0] * 5
    unfloored = as_trained_on_any_value(served).frame([window])
    assert (unfloored.filter(like="lower_95").to_numpy() < 0).any()
    status, answer = post(app, {"inputs": [window]})
    assert status == 200, answer
    row = answer["predictions"][0]
    assert min(row.values()) >= 0.0
    assert [row[f"lower_95_{h}"] for h in range(1, 6)].count(0.0) >= 1
    predict(registered_store, tmp_path / "run", f"input.values=[{','.join(map(str, window))}]")
    printed = read_json(tmp_path / "run")["forecast"]
    assert min(min(step["lower_95"], step["lower_80"]) for step in printed) >= 0.0


def test_an_absurd_forecast_is_refused_in_one_sentence() -> None:
    windows = np.array([[1e-6, 1e6] * 5])
    with pytest.raises(ForecastRefused) as caught:
        guarded_forecast(windows, np.array([[-46_565_460.0, 5.0]]), {}, False, 10.0)
    assert str(caught.value) == (
        "the model's forecast is -4.65655e+07 at step 1, far outside the window's range 1e-06 "
        "to 1e+06 (beyond what guard.max_range_multiple=10 allows); the window is probably not "
        "a price series of the kind the model was trained on, so check it."
    )
    # A flat window has no range: its level sets the room, so it may still move.
    flat = np.full((1, 10), 100.0)
    point, _ = guarded_forecast(flat, np.array([[101.0, 150.0]]), {}, False, 10.0)
    assert point.tolist() == [[101.0, 150.0]]
    # A window of zeros (sales on closed days) is judged by the model's typical one-step move:
    # float32 round-off and a few sales are answered, a billion is not.
    zeros = np.zeros((2, 10))
    zeros[1, -1] = 1.0
    forecast = np.array([[3.8e-7, 2.0], [1.0, 1.5]])
    point, _ = guarded_forecast(zeros, forecast, {}, True, 10.0, typical_move=3.0)
    assert point.tolist() == forecast.tolist()
    with pytest.raises(ForecastRefused, match="far outside the window's range 0 to 0"):
        guarded_forecast(zeros[:1], np.array([[1e9, 2.0]]), {}, True, 10.0, typical_move=3.0)


class Absurd:
    """A pyfunc that answers -46 million (and a band far below zero) whatever it is given."""

    def predict(self, rows: np.ndarray) -> Any:
        point = np.full((len(rows), 5), -46_565_460.0)
        return forecast_frame(point, {"80": (point - 1.0, point + 1.0)})


ABSURD_END = (
    "far outside the window's range 1e-06 to 1e+06 (beyond what guard.max_range_multiple=10 "
    "allows); the window is probably not a price series of the kind the model was trained on, "
    "so check it."
)


@pytest.mark.slow
def test_predict_refuses_an_absurd_forecast_in_the_same_sentence(
    registered_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = task.open_model
    monkeypatch.setattr(
        task, "open_model", lambda cfg, workdir: replace(opened(cfg, workdir), pyfunc=Absurd())
    )
    message = refused(registered_store, tmp_path, f"input.values={[1e-6, 1e6] * 5}")
    assert message.startswith("error: the model's forecast is -4.65655e+07 at step 1 (and 4 ")
    assert message.endswith(ABSURD_END)


def test_a_served_networks_absurd_negative_forecast_is_refused_not_floored_to_zero(
    tmp_path: Path,
) -> None:
    """The served model floors at zero; floored first, a forecast of -500 million read as 0,
    inside every window's range, and was answered as a price of 0 with a band of width 0."""
    from stockcast.models.spec import build_price_forecaster
    from stockcast.serving.model import open_model_dir
    from stockcast.training.export import save_model_dir

    spec = {
        "previous_time_window": 6,
        "next_time_window": 3,
        "num_threads": 1,
        "mlp": {"hidden_sizes": [8], "activation": "relu", "dropout": 0.0, "anchor": "last"},
        "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
    }
    net = build_price_forecaster(spec)
    with torch.no_grad():  # every output a thousand window spreads below the last price
        net.core.biases[-1].fill_(-1000.0)
    metadata = {"kind": "stockcast.model", "previous_time_window": 6, "next_time_window": 3}
    save_model_dir(net, spec, tmp_path / "model", metadata, np.arange(6.0) + 100)
    model = replace(open_model_dir(tmp_path / "model"), max_range_multiple=10.0)
    wild = np.array([[1e-6, 1e6] * 3])
    with pytest.raises(ForecastRefused, match=r"^the model's forecast is -\d"):
        model.forecast(wild)
    _, _, refusals = model.forecast_each(wild, ["series 'WILD'"])
    assert list(refusals) == [0]
    # Evaluation passes no multiple: it scores the floored answer.
    point, _ = replace(model, max_range_multiple=None).forecast(wild)
    assert point.max() == 0.0


@pytest.fixture
def absurd() -> OpenModel:
    """A model of 10 prices in, 5 out, that forecasts -46 million, as serve opens it."""
    metadata = {"kind": "stockcast.model", "previous_time_window": 10, "next_time_window": 5}
    multiple = float(GUARD["max_range_multiple"])
    return OpenModel(Absurd(), Path("absurd"), "", metadata, max_range_multiple=multiple)


def test_batch_predict_names_the_series_whose_forecast_is_refused(absurd: OpenModel) -> None:
    """It named `row 3`, the series' place among the sorted ids, in no row of the file."""
    from stockcast.data.series import Series
    from stockcast.prediction.batch import SeriesBatch
    from stockcast.prediction.batch_forecast import forecast_batch

    ids = ("AAA", "BBB", "WILD")
    rows = [np.full(10, 100.0), np.full(10, 50.0), np.array([1e-6, 1e6] * 5)]
    batch = SeriesBatch([Series(i, r) for i, r in zip(ids, rows, strict=True)], "Ticker", "", {})
    with pytest.raises(ForecastRefused) as caught:
        forecast_batch(absurd, batch)
    assert str(caught.value).startswith(
        "the model's forecast for series 'AAA' (and 2 others refused too) is -4.65655e+07 at "
        "step 1 (and 4 more)"
    )
    # The refusal names the first series refused: WILD alone, among sensible answers.
    point = np.full((3, 5), 75.0)
    point[2, 0] = -4.6e7
    with pytest.raises(ForecastRefused, match=r"^the model's forecast for series 'WILD' is"):
        guarded_forecast(np.stack(rows), point, {}, False, 10.0, row_names=series_names(ids))
    # "(and N more)" counts the named series' steps; the other series refused are counted
    # apart (it counted every series' steps against the one it named).
    point[1, :] = point[2, 1:3] = -4.6e7
    with pytest.raises(ForecastRefused) as caught:
        guarded_forecast(np.stack(rows), point, {}, False, 10.0, row_names=series_names(ids))
    assert str(caught.value).startswith(
        "the model's forecast for series 'BBB' (and 1 other refused too) is -4.6e+07 at step 1 "
        "(and 4 more), far outside"
    )


def test_a_backtest_refusal_names_the_window_by_its_last_date(absurd: OpenModel) -> None:
    """It named `row 1` of a batch the backtest builds inside, in no row of the user's file."""
    import pandas as pd

    from stockcast.prediction.forecast import rolling_backtest
    from stockcast.prediction.inputs import InputSeries

    dates = pd.bdate_range("2025-01-01", periods=20).to_numpy()
    series = InputSeries(np.linspace(100.0, 110.0, 20), dates, "20 prices")
    with pytest.raises(ForecastRefused) as caught:
        rolling_backtest(absurd, series, span=7)  # windows ending on values 13, 14 and 15
    assert str(caught.value).startswith(
        "the model's forecast for the window ending 2025-01-17 (and 2 others refused too) is "
        "-4.65655e+07 at step 1 (and 4 more)"
    )
    undated = InputSeries(series.values, None, "20 prices")
    with pytest.raises(ForecastRefused, match="for the window ending at value 13 "):
        rolling_backtest(absurd, undated, span=7)


class WildOnly:
    """A pyfunc that repeats the last price, except for a window swinging over six orders of
    magnitude, which it answers with -46 million."""

    def predict(self, rows: np.ndarray) -> Any:
        rows = np.asarray(rows, dtype=np.float64)
        point = np.repeat(rows[:, -1:], 5, axis=1)
        point[rows.max(axis=1) / rows.min(axis=1) > 1e6] = -46_565_460.0
        return forecast_frame(point, {"80": (point - 1.0, point + 1.0)})


def test_a_batch_that_skips_refused_series_forecasts_the_rest_and_says_why(
    absurd: OpenModel,
) -> None:
    """One absurd ticker (or a short one, or one holding a NaN or a negative price) refused a
    whole batch of thousands; with skip_refused the rest are forecast and each refused id keeps
    the sentence it would have refused the batch in."""
    from stockcast.data.series import Series
    from stockcast.prediction.batch import Refused, SeriesBatch, check_long_enough
    from stockcast.prediction.batch_forecast import forecast_batch

    model = replace(absurd, pyfunc=WildOnly())
    rows = {
        "AAA": np.full(12, 100.0),
        "NAN": np.r_[np.full(11, 10.0), np.nan],
        "NEG": np.r_[np.full(11, 10.0), -1.0],
        "SHORT": np.full(4, 30.0),
        "WILD": np.array([1e-6, 1e6] * 6),
        "ZZZ": np.full(10, 50.0),
    }
    batch = SeriesBatch([Series(i, r) for i, r in rows.items()], "Ticker", "", {"path": "p.csv"})
    with pytest.raises(
        DataError, match=r"^1 of 6 series in p.csv hold fewer than the 10 "
    ) as short:
        forecast_batch(model, batch)
    assert str(short.value).endswith(
        "'SHORT'; drop them or give more history, or set input.skip_refused=true to forecast the "
        "others."
    )
    # Where every series is short there are no others to forecast.
    shorts = SeriesBatch([Series(i, np.full(4, 30.0)) for i in "AB"], "Ticker", "", {"path": "p"})
    with pytest.raises(DataError) as every:
        check_long_enough(shorts, 10, "the model")
    assert str(every.value).endswith("'A', 'B'; drop them or give more history.")

    result = forecast_batch(model, batch, skip_refused=True)
    assert result.ids == ["AAA", "ZZZ"]
    np.testing.assert_allclose(result.forecasts, [[100.0] * 5, [50.0] * 5])
    np.testing.assert_allclose(result.bands["80"][1], [[101.0] * 5, [51.0] * 5])
    assert [item.series_id for item in result.refused] == ["NAN", "NEG", "SHORT", "WILD"]
    reasons = {item.series_id: item.reason for item in result.refused}
    assert reasons["NEG"].startswith("series 'NEG' holds -1 at position 12, but prices are")
    assert reasons["SHORT"] == (
        "series 'SHORT' holds 4 values, fewer than the 10 the model reads; give it more history."
    )
    assert reasons["WILD"].startswith("the model's forecast for series 'WILD' is -4.65655e+07")

    left = batch.without({"AAA", "ZZZ"})
    with pytest.raises(DataError) as caught:
        forecast_batch(model, left, skip_refused=True)
    assert str(caught.value).startswith(
        "every one of the 4 series in p.csv was refused (input.skip_refused=true): 'NAN', "
        "'NEG', 'SHORT', 'WILD'; the first: series 'NAN' has 1 non-finite value"
    )
    assert Refused("NAN", reasons["NAN"]) in result.refused


def test_serve_answers_an_absurd_forecast_with_422(absurd: OpenModel) -> None:
    model = absurd
    status, answer = post(build_app(model, LIMITS), {"inputs": [[1e-6, 1e6] * 5]})
    assert status == 422
    assert answer["error_code"] == "FORECAST_REFUSED"
    assert answer["message"].startswith("the model's forecast is -4.65655e+07 at step 1 (and 4 ")
    assert answer["message"].endswith(ABSURD_END)
    # Evaluation passes no multiple: it scores the floored answer instead.
    point, bands = replace(model, max_range_multiple=None).forecast([WINDOW])
    assert point.max() == 0.0 and bands["80"][0].max() == 0.0


# -- requests too large --------------------------------------------------------------------


def test_more_rows_than_max_rows_is_a_413(absurd: OpenModel) -> None:
    status, answer = post(build_app(absurd, Limits(2, LIMITS.max_bytes)), {"inputs": [WINDOW] * 3})
    assert status == 413
    assert answer["message"] == (
        "the request holds 3 rows, more than the 2 this server takes (serve.max_rows); split it "
        "into smaller requests."
    )


def test_a_body_over_max_bytes_is_refused_before_it_is_read(absurd: OpenModel) -> None:
    app = build_app(absurd, Limits(LIMITS.max_rows, 1000))
    chunk = b" " * 400
    json_type = {"content-type": "application/json"}
    # Declared too large: refused from the header, nothing read.
    status, answer, pulled = call(app, [chunk] * 5, json_type | {"content-length": "2000"})
    assert (status, pulled) == (413, 0)
    assert answer["message"].startswith("the request holds 2000 bytes, more than the 1000 ")
    # No Content-Length, or one that lies: reading stops at the chunk that crosses the limit.
    for headers in (json_type, json_type | {"content-length": "10"}):
        status, answer, pulled = call(app, [chunk] * 50, headers)
        assert status == 413 and pulled == 1200, headers
        assert "(serve.max_bytes)" in answer["message"]


@pytest.mark.parametrize(
    ("override", "sentence"),
    [
        ("serve.max_rows=0", "serve.max_rows is 0; it must be a whole number above 0"),
        ("serve.max_bytes=1.5", "serve.max_bytes is 1.5; it must be a whole number above 0"),
        (
            "serve.max_concurrent_requests=0",
            "serve.max_concurrent_requests is 0; it must be a whole number above 0",
        ),
        ("serve.read_timeout_s=0", "serve.read_timeout_s is 0; it must be a whole number above 0"),
        (
            "guard.max_range_multiple=-1",
            "guard.max_range_multiple is -1; it must be a number above 0",
        ),
    ],
)
def test_the_limits_are_checked_before_anything_loads(
    make_cfg, override: str, sentence: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(sentence)}"):
        validate_config(make_cfg(override, config_name="serve"))


def test_every_refusal_of_the_server_is_the_json_error_body(app: Any) -> None:
    """Unknown routes and methods (Starlette's plain-text 404 and 405), a request without a
    Content-Type and CSV windows sent without a header line each get one sentence."""
    window = ",".join(str(100.0 + i) for i in range(10)).encode()
    cases = [
        ({}, "/predict", "POST", b"{}", 404, "ENDPOINT_NOT_FOUND"),
        ({}, "/invocations", "GET", b"", 405, "METHOD_NOT_ALLOWED"),
        ({}, "/invocations", "POST", b"{}", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({"content-type": "text/csv"}, "/invocations", "POST", window, 400, "BAD_REQUEST"),
        (
            {"content-type": "text/csv"},
            "/invocations",
            "POST",
            window + b"\n" + window,
            400,
            "BAD_REQUEST",
        ),
    ]
    messages = []
    for headers, path, method, body, status, code in cases:
        answered, answer, _ = call(app, [body], headers, path, method)
        assert (answered, answer["error_code"]) == (status, code)
        messages.append(answer["message"])
    # A frame's positions as its header (pandas' to_csv of a plain array) are names.
    header = ",".join(str(i) for i in range(10)).encode()
    answered, answer, _ = call(app, [header + b"\n" + window], {"content-type": "text/csv"})
    assert answered == 200 and len(answer["predictions"]) == 1
    assert messages == [
        "POST /predict is not served; POST windows to /invocations (GET /ping, /health or "
        "/version).",
        "GET /invocations is not served; POST windows to /invocations (GET /ping, /health or "
        "/version).",
        "the request has no Content-Type; send application/json or text/csv.",
        "the CSV body's header line is all numbers, a window sent without a header; send a "
        "header line (any names), then one window of prices per line.",
        "the CSV body's header line is all numbers, a window sent without a header; send a "
        "header line (any names), then one window of prices per line.",
    ]


def test_csv_and_json_windows_are_refused_in_the_same_sentences(app: Any) -> None:
    """A text value in a later CSV row was blamed on a valid price of row 1 (pandas read the
    whole column as text), and a whole number too large for float32 was 'not a number' in a
    CSV body only."""
    header = ",".join(f"p{i}" for i in range(1, 11))
    window = ",".join(map(str, WINDOW))
    csv_type = {"content-type": "text/csv"}
    status, answer, _ = call(app, [f"{header}\n{window}\nx,{window[6:]}\n".encode()], csv_type)
    assert status == 400
    assert answer["message"] == f"the input holds 'x' in row 2 at position 1, {NOT_A_NUMBER}"
    huge = "99999999999999999999999"
    status, from_csv, _ = call(app, [f"{header}\n{huge},{window[6:]}\n".encode()], csv_type)
    assert status == 400
    assert post(app, {"inputs": [[int(huge), *WINDOW[1:]]]}) == (400, from_csv)
    assert from_csv["message"].startswith("the input holds 1e+23 at position 1, too large ")


def test_a_row_that_is_no_window_among_rows_that_are_is_named(app: Any) -> None:
    """It was left out of the count: 'got rows of 10 values'."""
    status, answer = post(app, {"inputs": [WINDOW, 104.5]})
    assert (status, answer["message"]) == (
        400,
        "the input's row 2 is 104.5, not a window of prices; send every row as a list of 10 "
        "prices.",
    )


def test_rows_of_different_widths_name_the_first_wrong_one(app: Any) -> None:
    """Rows of 10 and 9 values: the answer gave both widths, not which of many rows was off."""
    rows = [WINDOW, WINDOW, WINDOW[1:], WINDOW]
    status, answer = post(app, {"inputs": rows})
    assert (status, answer["message"]) == (
        400,
        "the model reads windows of exactly 10 prices (its previous_time_window); got rows of "
        "9, 10 values (row 3 has 9).",
    )


def test_every_route_answers_with_a_trailing_slash_too(app: Any) -> None:
    """Starlette answered `/invocations/` with an empty redirect, which a client that does not
    follow redirects (a health probe) read as an empty answer."""
    body = json.dumps({"inputs": [WINDOW]}).encode()
    json_type = {"content-type": "application/json"}
    status, answer, _ = call(app, [body], json_type, "/invocations/")
    assert status == 200 and len(answer["predictions"]) == 1
    assert {"/ping/", "/health/", "/version/"} <= {route.path for route in app.routes}
    status, answer, _ = call(app, [body], json_type, "/predict/")
    assert (status, answer["error_code"]) == (404, "ENDPOINT_NOT_FOUND")


def test_a_port_in_use_is_one_sentence_before_serving_is_announced() -> None:
    from stockcast.errors import ConfigError
    from stockcast.serving.server_process import bound_socket

    taken = bound_socket("127.0.0.1", 0)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(ConfigError, match=rf"^serve.port {port} on 127.0.0.1 cannot be "):
            bound_socket("127.0.0.1", port)
    finally:
        taken.close()
    with pytest.raises(ConfigError, match=r"^serve.host 'no such host\.invalid' is not an "):
        bound_socket("no such host.invalid", 8080)
    # An address of another machine (TEST-NET-1): the host is named, not the port.
    with pytest.raises(ConfigError, match=r"^serve.host '192.0.2.1' is not an address of this "):
        bound_socket("192.0.2.1", 0)


def test_rows_nested_a_list_too_deep_are_told_to_be_flat() -> None:
    """A window wrapped in one list too many was refused as 'rows of shape (1, 1, 10)'."""
    for nested, shape in (
        ([[WINDOW]], "(1, 1, 10)"),
        (np.array([[WINDOW], [WINDOW]]), "(2, 1, 10)"),
    ):
        with pytest.raises(DataError) as caught:
            price_rows(nested, len(WINDOW), allow_non_positive=False)
        assert str(caught.value) == (
            "the model reads windows of exactly 10 prices (its previous_time_window); got rows "
            f"nested 3 deep (shape {shape}); send each window as one flat list of numbers, one "
            "window per row."
        )
