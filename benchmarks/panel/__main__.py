"""`python -m benchmarks.panel prepare SERIES [overrides...]`: the prepare measurement, one JSON
line, for `prepare_rows`' fresh subprocess."""

from __future__ import annotations

import json
import sys

from benchmarks.panel.prepare import measure_prepare

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "prepare":
        raise SystemExit("usage: python -m benchmarks.panel prepare SERIES [overrides...]")
    print(json.dumps(measure_prepare(int(sys.argv[2]), sys.argv[3:])))
