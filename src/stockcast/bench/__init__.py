"""Benchmarks behind `make bench`: each one is a function returning table rows.

Kept out of the training path: nothing here is imported by the train, prepare or serve code.
"""

from __future__ import annotations

from stockcast.bench.common import BenchOptions, Row, format_table
from stockcast.bench.registry import BENCHMARKS, run_benchmarks

__all__ = ["BENCHMARKS", "BenchOptions", "Row", "format_table", "run_benchmarks"]
