"""Peers' scores reused from an earlier run's CSV (`--peers-from`): the peers do not change when
stockcast does, and NeuralForecast's two models and AutoGluon take minutes per series, so a run
that compares a stockcast change against them need not fit them again.

A cached row counts only where the score would be the same: each CSV row carries the SHA-256 of
the series' values together with the protocol (horizon, held-out share, levels), the series'
season length, the peers' settings and their packages' versions, and a series where any of them
changed gets its peers fitted afresh.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np

from benchmarks.accuracy.peers import peer_settings
from benchmarks.accuracy.protocol import HORIZON, LEVELS, TEST_FRACTION, Result

# The forecasters a cache supplies: the fitted peers. The naive baselines cost nothing and are
# always computed.
CACHED = ("AutoETS", "AutoTheta", "NeuralForecast MLP", "NeuralForecast NHITS", "AutoGluon")
# The columns a cached row is read from (coverage columns are optional).
REQUIRED = ("series", "forecaster", "mase", "fit_s", "scored_sha256")


def scoring_digest(values: np.ndarray, season: int) -> str:
    """The SHA-256 of what a peer's score was measured on: the series' values as float64, its
    season length, the protocol and the peers' settings (`peer_settings`)."""
    settings = {
        "horizon": HORIZON,
        "test_fraction": TEST_FRACTION,
        "levels": list(LEVELS),
        "season_length": season,
        **peer_settings(season),
    }
    digest = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def read_peer_cache(path: str | Path) -> dict[tuple[str, str], list[Result]]:
    """{(series, its digest): the cached peers' results} from a CSV `write_outputs` wrote."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"--peers-from {path} is not a file; give the CSV of an earlier run.")
    cache: dict[tuple[str, str], list[Result]] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in REQUIRED if column not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(
                f"--peers-from {path} has no {', '.join(missing)} column(s); give the CSV that "
                "this version's `make bench-accuracy` wrote (bench_accuracy.csv)."
            )
        for row in reader:
            if row.get("forecaster") not in CACHED or not row.get("scored_sha256"):
                continue
            coverage = {
                level: float(row[f"coverage_{level}"])
                for level in LEVELS
                if row.get(f"coverage_{level}")
            }
            result = Result(
                row["series"],
                row["forecaster"],
                float(row["mase"]),
                coverage,
                float(row["fit_s"]),
                scored_sha256=row["scored_sha256"],
            )
            cache.setdefault((row["series"], row["scored_sha256"]), []).append(result)
    return cache
