"""How the scoring server reads a request body into rows, before any model sees them: MLflow's
JSON formats as MLflow lines them up, and a clean 400 for what is no request."""

from __future__ import annotations

import json

import pytest

from stockcast.serving.request_body import Refused, json_rows


def test_records_are_lined_up_by_key_not_by_their_order_in_each_record() -> None:
    """MLflow builds a DataFrame of the records, which lines them up by key: a record listing
    the same prices in another key order is the same window, not a reversed one."""
    window = {f"p{i}": 100.0 + i for i in range(1, 6)}
    reversed_keys = dict(reversed(list(window.items())))
    rows = json_rows(json.dumps({"dataframe_records": [window, reversed_keys]}).encode())
    assert rows[0] == rows[1] == [101.0, 102.0, 103.0, 104.0, 105.0]


def test_records_with_different_keys_are_refused() -> None:
    body = {"dataframe_records": [{"a": 1.0, "b": 2.0}, {"a": 1.0, "c": 2.0}]}
    with pytest.raises(Refused) as refused:
        json_rows(json.dumps(body).encode())
    assert refused.value.status == 400
    assert str(refused.value) == (
        "dataframe_records record 2 has the keys ['a', 'c'], not the first record's "
        "['a', 'b']; give every record the same keys."
    )


def test_a_refusal_names_the_key_that_held_the_records() -> None:
    body = {"instances": [{"a": 1.0, "b": 2.0}, {"a": 1.0}]}
    with pytest.raises(Refused) as refused:
        json_rows(json.dumps(body).encode())
    assert str(refused.value).startswith("instances record 2 has the keys ['a'], not the first")


def test_json_nested_deeper_than_the_parser_goes_is_a_400_not_a_500() -> None:
    with pytest.raises(Refused) as refused:
        json_rows(b"[" * 100_000 + b"]" * 100_000)
    assert refused.value.status == 400
    assert str(refused.value).startswith("the body is not valid JSON")
