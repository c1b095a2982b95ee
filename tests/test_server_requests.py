"""How the scoring server reads a request body into rows, before any model sees them: MLflow's
JSON formats as MLflow lines them up, and a clean 400 for what is no request."""

from __future__ import annotations

import csv
import json
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from stockcast.errors import DataError
from stockcast.serving.request_body import Refused, csv_rows, json_rows, request_rows


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


def _csv_refusal(body: bytes) -> str:
    with pytest.raises(Refused) as refused:
        csv_rows(body)
    assert refused.value.status == 400
    return str(refused.value)


def test_csv_windows_are_read_value_by_value_under_their_header() -> None:
    """pandas renamed a number repeated in the header line (so a window sent without a header
    passed as one, and the answer was one forecast short), made a row's extra first value its
    index, cut a value at a NUL byte, and read a column with one text value all as text."""
    window = "101.9,101.9,102.4"
    assert csv_rows(f"a,b,c\n{window}\n\n{window}\n".encode()) == [[101.9, 101.9, 102.4]] * 2
    assert csv_rows(b"\xef\xbb\xbfa,b\r\n1,2\r\n") == [[1.0, 2.0]], "a BOM and CRLF lines"
    for headless in (f"{window}\n{window}\n", f"{window}\n"):
        # One window alone was "a header line and no rows under it".
        assert _csv_refusal(headless.encode()).startswith(
            "the CSV body's header line is all numbers, a window sent without a header"
        )
    assert _csv_refusal(b"a,b,c\n").startswith("the CSV body has a header line and no rows")
    assert _csv_refusal(b"a,b,c\n1,2,3\n5000,1,2,3\n") == (
        "line 3 of the CSV body holds 4 values under a header of 3 names; send one window per "
        "line, as many prices as the header has names."
    )
    assert _csv_refusal(b"a,b\n1,2\n1\n").startswith("line 3 of the CSV body holds 1 value under")
    assert _csv_refusal(b"a,b\n10\x004.0,2\n") == (
        "the CSV body holds a NUL byte; send the prices as plain text."
    )
    assert _csv_refusal(b"") == "the body is not a CSV table with a header (empty)."
    # Text stays text, for the input guard to name where it is.
    assert csv_rows(b"a,b\n1,2\nx,1_000\n") == [[1.0, 2.0], ["x", "1_000"]]
    assert csv_rows("a,b\n1,\uff11\uff10\uff11\n".encode()) == [[1, "\uff11\uff10\uff11"]]
    # Lines ending in CR alone, lines of spaces only, as pandas read them; a refusal counts the
    # body's own lines, blank ones too; a whole number stays whole, as JSON gives it.
    assert csv_rows(b"a,b\r1.5,2\r") == [[1.5, 2.0]]
    assert csv_rows(b"a,b\n1,2\n \n\t\n3,4\n \n") == [[1, 2], [3, 4]]
    assert _csv_refusal(b"a,b,c\n\n\n1,2,3\n4,5\n").startswith("line 5 of the CSV body holds 2")
    (row,) = csv_rows(b"a\n" + b"1" * 400 + b"\n")
    assert row == [int("1" * 400)]


def test_a_json_body_whose_first_row_is_no_window_is_read_as_rows() -> None:
    """Read as one flat window, it was refused as 'rows of shape (1, 2)'."""
    assert json_rows(b'{"inputs": [104.5, [101.0, 102.0]]}') == [104.5, [101.0, 102.0]]
    assert json_rows(b'{"inputs": [101.0, 102.0]}') == [[101.0, 102.0]]


def test_a_dataframe_split_row_as_wide_as_its_columns_is_read_and_another_refused() -> None:
    """MLflow's DataFrame of a row of another width than its columns failed deep in pandas; a
    window one price short is no window the model reads."""
    split = {"columns": ["a", "b", "c"], "data": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}
    assert json_rows(json.dumps({"dataframe_split": split}).encode()) == split["data"]
    split["data"][1] = [4.0, 5.0]
    with pytest.raises(Refused) as refused:
        json_rows(json.dumps({"dataframe_split": split}).encode())
    assert refused.value.status == 400
    assert str(refused.value) == (
        "dataframe_split row 2 holds 2 values under 3 columns; give every row one price per column."
    )
    # One column's flat values are rows of one price each, not a window (MLflow's DataFrame
    # of them would be ten rows of one value).
    for flat in (
        {"columns": ["price"], "data": [101.2, 102.0, 103.5]},
        {"data": [101.2, 102.0, 103.5]},
    ):
        with pytest.raises(Refused) as refused:
            json_rows(json.dumps({"dataframe_split": flat}).encode())
        assert str(refused.value) == (
            "dataframe_split row 1 is 101.2, no list; give each window as a row, a list of one "
            "price per column."
        )
    # Without columns, each row is a window as it stands.
    rows = json_rows(json.dumps({"dataframe_split": {"data": [[1.0, 2.0], [3.0]]}}).encode())
    assert rows == [[1.0, 2.0], [3.0]]


def test_a_whole_number_of_thousands_of_digits_is_refused_as_too_large_for_any_body() -> None:
    """Past Python's 4300 digits the JSON body was "not valid JSON" and the CSV one read inf:
    both now reach the guard's sentence for a whole number too large for a float, as one of
    400 digits does."""
    from stockcast.forecasting.guard import price_rows

    big = "1" + "0" * 5000
    window = [big, *(str(100 + i) for i in range(9))]
    bodies = [
        json_rows(f'{{"inputs": [[{",".join(window)}]]}}'.encode()),
        csv_rows(("a,b,c,d,e,f,g,h,i,j\n" + ",".join(window) + "\n").encode()),
        json_rows(f'{{"inputs": [[-{big}, 1, 2, 3, 4, 5, 6, 7, 8, 9]]}}'.encode()),
    ]
    for rows in bodies:
        with pytest.raises(DataError) as refused:
            price_rows(rows, 10, False)
        assert str(refused.value) == (
            "the input holds a whole number too large for a float; rescale the prices, e.g. "
            "divide them by a power of 10."
        )
    # A cell of two signs is no number, however it fails.
    rows = csv_rows(("a,b,c,d,e,f,g,h,i,j\n--5," + ",".join(window[1:]) + "\n").encode())
    with pytest.raises(DataError, match="'--5' at position 1, which is not a number"):
        price_rows(rows, 10, False)


def test_a_refusal_quotes_what_the_request_sent_cut_short() -> None:
    """A refusal quoted the row, the record keys or the Content-Type whole: a row of 7 MB of
    text, or a record of 500,000 keys, came back in the error body."""
    long_text = "A" * 1_000_000
    many_keys = {f"k{i}": 1.0 for i in range(100_000)}
    bodies = [
        {"dataframe_split": {"data": [long_text]}},
        {"dataframe_records": [{"a": 1.0}, many_keys]},
        {"dataframe_records": [{"a": 1.0}, {long_text: 1.0}]},
    ]
    for body in bodies:
        with pytest.raises(Refused) as refused:
            json_rows(json.dumps(body).encode())
        assert refused.value.status == 400
        assert len(str(refused.value)) < 600
    assert str(refused.value).startswith("dataframe_records record 2 has the keys ['AAAA")
    assert str(refused.value).endswith(
        "..., not the first record's ['a']; give every record the same keys."
    )
    with pytest.raises(Refused) as refused:
        request_rows(b"{}", "text/" + "x" * 100_000, 10)
    assert refused.value.status == 415
    assert str(refused.value).startswith("Content-Type 'text/xxx")
    assert len(str(refused.value)) < 300


def test_a_decimal_beyond_a_float_is_refused_as_too_large_not_as_infinity() -> None:
    """`1e400` was read as inf by both bodies and refused as "send finite prices", which the
    user had done: it is refused as too large, in the guard's words for a whole number beyond a
    float, as predict refuses one. A written infinity stays infinity."""
    from stockcast.forecasting.guard import price_rows

    rest = ",".join(str(100 + i) for i in range(9))
    bodies = [
        json_rows(f'{{"inputs": [[1e400, {rest}]]}}'.encode()),
        json_rows(f'{{"inputs": [[-2.5E+999, {rest}]]}}'.encode()),
        csv_rows(f"a,b,c,d,e,f,g,h,i,j\n1e400,{rest}\n".encode()),
        csv_rows(f"a,b,c,d,e,f,g,h,i,j\n -1.5e309 ,{rest}\n".encode()),
    ]
    for rows in bodies:
        with pytest.raises(DataError) as refused:
            price_rows(rows, 10, True)
        assert str(refused.value) == (
            "the input holds a whole number too large for a float; rescale the prices, e.g. "
            "divide them by a power of 10."
        )
    for rows in (
        csv_rows(f"a,b,c,d,e,f,g,h,i,j\ninf,{rest}\n".encode()),
        json_rows(f'{{"inputs": [[Infinity, {rest}]]}}'.encode()),
    ):
        with pytest.raises(DataError, match="holds inf at position 1; send finite prices"):
            price_rows(rows, 10, True)


@contextmanager
def _peak_bytes() -> Iterator[list[int]]:
    """The most memory the block held at once (traced), in the list it gives, once it ends: a
    body's rows read past a bound show as memory, where their seconds depend on the load."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def test_a_csv_body_wider_than_the_model_s_window_is_refused_from_its_header() -> None:
    """A header of a million names was read, with its line of a million values, each converted,
    before the guard refused the width (5.7 s, 150 MB): now refused from the header line, in
    the guard's words for a row of the wrong width."""
    wide = 1_000_000
    body = (
        ",".join(f"c{i}" for i in range(wide)) + "\n" + ",".join(["1.5"] * wide) + "\n"
    ).encode()
    with _peak_bytes() as peak, pytest.raises(DataError) as refused:
        request_rows(body, "text/csv", 10, width=10)
    assert peak[0] < 2 * len(body), "no value of the line under it was read"
    assert str(refused.value) == (
        "the model reads windows of exactly 10 prices (its previous_time_window); got a CSV body "
        "whose header has 1000000 names."
    )
    # A header as wide as the window reads as before.
    assert request_rows(b"a,b\n1,2\n", "text/csv", 10, width=2) == [[1, 2]]


def test_a_csv_header_far_wider_than_the_window_is_refused_from_its_commas() -> None:
    """A header of a million names was still a string made for each name (0.5 s, 176 MB for a
    body of 8 MB) before its width was refused: its commas are counted instead, in the same
    words; a header the count could misjudge is read by the csv module, as before."""
    body = ("\n \n" + ",".join(f"c{i}" for i in range(1_000_000)) + "\n1.5\n").encode()
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as refused:
            request_rows(body, "text/csv", 10, width=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(refused.value) == (
        "the model reads windows of exactly 10 prices (its previous_time_window); got a CSV body "
        "whose header has 1000000 names."
    )
    assert peak < 2 * len(body)
    # A quoted name holding a comma is one name.
    with pytest.raises(DataError, match=r"header has 5 names\.$"):
        request_rows(b'"a,b",c,d,e,f\r\n1,2\r\n', "text/csv", 10, width=2)
    # A header all numbers is a window sent without one, however wide.
    with pytest.raises(Refused, match="header line is all numbers"):
        request_rows(b"1,2,3,4,5\n", "text/csv", 10, width=2)
    # A name longer than the csv module reads is its refusal, not the width's.
    too_long = "z" * (csv.field_size_limit() + 1)
    with pytest.raises(Refused, match=r"\(field larger than field limit"):
        request_rows(f"a,{too_long},b,c,d\n1,2\n".encode(), "text/csv", 10, width=2)


def test_csv_windows_without_a_header_are_named_so_whatever_their_width() -> None:
    """Windows sent without a header, narrower than the model's window, were refused as "a CSV
    body whose header has 3 names": the width was checked first, on a header the body lacks."""
    for body in (b"101,102,103\n104,105,106\n", b"101,102,103\n"):
        with pytest.raises(Refused) as refused:
            request_rows(body, "text/csv", 10, width=5)
        assert (refused.value.status, str(refused.value)) == (
            400,
            "the CSV body's header line is all numbers, a window sent without a header; send a "
            "header line (any names), then one window of prices per line.",
        )


def test_a_csv_body_of_more_lines_than_max_rows_is_refused_before_they_are_read() -> None:
    """Every line of an 8 MB body of 400,000 short lines was read and each value converted
    before the 413 for serve.max_rows (5 s, 200 MB): reading stops one line past the bound."""
    line = ",".join(["1"] * 10) + "\n"
    body = ("a,b,c,d,e,f,g,h,i,j\n" + line * 400_000).encode()
    with _peak_bytes() as peak, pytest.raises(Refused) as refused:
        request_rows(body, "text/csv", 10_000, width=10)
    # The body's text and its reader's copy: 43 MB; every line read was 200 MB.
    assert peak[0] < 8 * len(body), "the lines past the bound were not read"
    assert refused.value.status == 413
    assert str(refused.value) == (
        "the request holds over 10000 rows, more than the 10000 this server takes "
        "(serve.max_rows); split it into smaller requests."
    )
    # As many lines as the bound, blank ones aside, are read.
    assert len(request_rows(("a\n" + "1\n\n" * 3).encode(), "text/csv", 3)) == 3


def test_a_csv_bodys_ticker_column_is_named_as_no_price() -> None:
    """A ticker column beside each window of a CSV body was refused as "a CSV body whose header
    has 11 names", where the JSON forms name the column: the model reads no series' name."""

    prices = ",".join(str(100 + i) for i in range(10))
    header = "Ticker," + ",".join(f"p{i}" for i in range(10))
    with pytest.raises(DataError) as caught:
        csv_rows(f"{header}\nAAA,{prices}\nBBB,{prices}\n".encode(), width=10)
    assert str(caught.value) == (
        "the input's column 'Ticker' holds 'AAA', not a price; a model reads no series' name "
        "(it forecasts any series from its window), so send each window's 10 prices alone."
    )
    # A header one name too wide over a line of prices is refused by its width, as before.
    with pytest.raises(DataError, match=r"got a CSV body whose header has 11 names"):
        csv_rows(f"x,{','.join(f'p{i}' for i in range(10))}\n1,{prices}\n".encode(), width=10)


def test_a_csv_body_not_in_utf8_is_told_to_send_utf8_and_where_it_is_not() -> None:
    """It was refused as 'not a CSV table with a header (it is not UTF-8 text)', with no word of
    what to send nor where the text went wrong."""
    assert _csv_refusal(b"a,b\n\xff,2\n") == (
        "the CSV body is not UTF-8 text (line 2 holds the byte 0xff); send the table encoded as "
        "UTF-8."
    )
    # Counted in the body as sent: a BOM, lines ending in CR alone.
    assert "(line 3 holds the byte 0xe9)" in _csv_refusal(b"\xef\xbb\xbfa,b\r1,2\r\xe9,1\r")
    assert "(line 1 holds the byte 0xe9)" in _csv_refusal("Kurs\xe9,b\n1,2\n".encode("latin-1"))


def test_a_json_body_in_a_form_not_read_is_told_the_forms_that_are() -> None:
    """MLflow's named-tensor form (a mapping under inputs) was told it 'holds no rows of
    prices', which did not say what form is read."""
    forms = (
        "send a list of rows (one window of prices each) under inputs or instances, or a table "
        "as dataframe_split (columns and data) or dataframe_records, e.g. "
        '{"inputs": [[101.2, 101.9, ...]]}.'
    )
    for key in ("inputs", "instances"):
        body = json.dumps({key: {"x": [101.0, 102.0]}}).encode()
        with pytest.raises(Refused) as refused:
            json_rows(body)
        assert refused.value.status == 400
        assert str(refused.value) == (
            f"{key} holds named inputs, which this server does not read; {forms}"
        )
    with pytest.raises(Refused) as refused:
        json_rows(b'{"inputs": []}')
    assert str(refused.value) == f"inputs holds no rows of prices; {forms}"
