"""Hook for a `predict` row: not measured yet.

To fill it: time `python scripts/predict.py ...` end to end (median of a few subprocesses, see
`stockcast.bench.startup.wall_time`) against `python -c "import torch, mlflow"`, and one forecast
through a loaded pyfunc model (`mlflow.pyfunc.load_model(model_dir).predict(rows)`, warm, median
of many calls). Return `Row("predict", ...)`s like the other benchmarks.
"""

from __future__ import annotations

from stockcast.bench.common import BenchOptions, Row
from stockcast.config import PROJECT_ROOT

PREDICT_SCRIPT = PROJECT_ROOT / "scripts" / "predict.py"


def bench_predict(opts: BenchOptions) -> list[Row]:
    if not PREDICT_SCRIPT.is_file():
        return [
            Row(
                "predict",
                "scripts/predict.py end to end",
                None,
                "s",
                note="not measured: scripts/predict.py does not exist yet "
                "(hook: stockcast.bench.predict.bench_predict)",
            )
        ]
    return [
        Row(
            "predict",
            "scripts/predict.py end to end",
            None,
            "s",
            note="not measured yet: fill stockcast.bench.predict.bench_predict",
        )
    ]
