"""Peers' scores reused from an earlier run's CSV (`--peers-from`): the peers do not change when
stockcast does, and NeuralForecast's two models and AutoGluon take minutes per series, so a run
that compares a stockcast change against them need not fit them again.

A cached row counts only where the score would be the same: each CSV row carries the SHA-256 of
the series' values together with the protocol (horizon, held-out share, levels), the series'
season length and, for a peer, its own settings, and beside it the peer's package version. A
peer is fitted afresh where its digest changed or this run has another version of its package
installed (a NeuralForecast upgrade refits its two models, not AutoETS); one this run cannot fit
(its package is not installed, or AutoGluon's venv is not given) is reused as recorded.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.accuracy.peers import peer_settings, peer_version
from benchmarks.accuracy.protocol import HORIZON, LEVELS, TEST_FRACTION, Result

# The forecasters a cache supplies: the fitted peers. The naive baselines cost nothing and are
# always computed.
CACHED = ("AutoETS", "AutoTheta", "NeuralForecast MLP", "NeuralForecast NHITS", "AutoGluon")
# The columns a cached row is read from (coverage columns are optional).
REQUIRED = ("series", "forecaster", "mase", "fit_s", "scored_sha256")


def scoring_digest(values: np.ndarray, season: int, settings: dict[str, Any] | None = None) -> str:
    """The SHA-256 of what a score was measured on: the series' values as float64, its season
    length, the protocol and, for a peer, its `peer_settings`."""
    measured = {
        "horizon": HORIZON,
        "test_fraction": TEST_FRACTION,
        "levels": list(LEVELS),
        "season_length": season,
        **(settings or {}),
    }
    digest = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    digest.update(json.dumps(measured, sort_keys=True).encode())
    return digest.hexdigest()


def series_digests(values: np.ndarray, season: int) -> dict[str, str]:
    """Each forecaster's digest of a series: each cached peer's own, and the protocol's alone
    (under "") for stockcast and the baselines."""
    return {
        "": scoring_digest(values, season),
        **{peer: scoring_digest(values, season, peer_settings(peer, season)) for peer in CACHED},
    }


def cached_peers(
    cache: dict[tuple[str, str, str], Result],
    series: str,
    digests: dict[str, str],
    autogluon_python: str,
) -> dict[str, Result]:
    """The peers of `series` the cache holds scored as this run scores them (`series_digests`):
    by the package version installed here, or by any where this run cannot fit the peer."""
    found = {}
    for peer in CACHED:
        row = cache.get((series, peer, digests[peer]))
        here = peer_version(peer, autogluon_python)
        if row is not None and (here is None or row.peer_version == here):
            found[peer] = row
    return found


def stamped(results: list[Result], digests: dict[str, str], autogluon_python: str) -> list[Result]:
    """Each result with what its CSV row records for a later `--peers-from`: its forecaster's
    digest (`series_digests`), and a peer fitted by this run the version that fitted it (a
    cached one keeps the version it was scored with)."""
    out = []
    for r in results:
        r = replace(r, scored_sha256=digests.get(r.forecaster, digests[""]))
        if r.forecaster in CACHED and not r.peer_version:
            r = replace(r, peer_version=peer_version(r.forecaster, autogluon_python) or "")
        out.append(r)
    return out


def warn_of_peers_left_out(
    peers_from: str,
    no_peers: bool,
    autogluon_python: str,
    series: str,
    cached: dict[str, Result],
    cache: dict[tuple[str, str, str], Result],
) -> None:
    """Say where a series' ratio leaves out a peer of the CSV: none is reused (`--no-peers`: the
    ratio is to the baselines alone), or one held there, scored otherwise (its values, its
    season, the protocol or the peer's settings changed), that this run does not fit again."""
    if no_peers and not cached:
        print(
            f"warning: {peers_from} holds no peers of {series} scored as this run scores it "
            "(a new series, or its values, its season, the protocol or the peers' settings or "
            "versions changed); its ratio is to naive and seasonal naive only",
            file=sys.stderr,
        )
        return
    held = {peer for (name, peer, _) in cache if name == series}
    fitted = set() if no_peers else {p for p in CACHED if peer_version(p, autogluon_python)}
    dropped = [peer for peer in CACHED if peer in held - set(cached) - fitted]
    if dropped:
        print(
            f"warning: {peers_from} holds {', '.join(dropped)} of {series} scored otherwise than "
            "this run scores it, and this run does not fit it again; its ratio leaves it out",
            file=sys.stderr,
        )


def read_peer_cache(path: str | Path) -> dict[tuple[str, str, str], Result]:
    """{(series, peer, its digest): the peer's cached result} from a CSV `write_outputs` wrote."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"--peers-from {path} is not a file; give the CSV of an earlier run.")
    try:
        return _read_peer_rows(path)
    except (UnicodeDecodeError, csv.Error) as err:
        raise SystemExit(
            f"--peers-from {path} cannot be read as a CSV ({err}); give the CSV that "
            "`make bench-accuracy` wrote (bench_accuracy.csv)."
        ) from None


def _read_peer_rows(path: Path) -> dict[tuple[str, str, str], Result]:
    cache: dict[tuple[str, str, str], Result] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in REQUIRED if column not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(
                f"--peers-from {path} has no {', '.join(missing)} column(s); give the CSV that "
                "this version's `make bench-accuracy` wrote (bench_accuracy.csv)."
            )
        if "peer_version" not in (reader.fieldnames or []):
            # Its digests held every peer's version: none is this run's, so nothing is reused.
            print(
                f"warning: {path} was written before each peer's version had a column of its "
                "own, so none of its peers' scores is reused: each is fitted again (with "
                "--no-peers, left out)",
                file=sys.stderr,
            )
            return cache
        for row in reader:
            if row.get("forecaster") not in CACHED or not row.get("scored_sha256"):
                continue
            try:
                coverage = {
                    level: float(row[f"coverage_{level}"])
                    for level in LEVELS
                    if row.get(f"coverage_{level}")
                }
                mase, fit_s = float(row["mase"]), float(row["fit_s"])
            except (TypeError, ValueError):  # text, an empty cell or a row cut short
                raise SystemExit(
                    f"--peers-from {path} line {reader.line_num} ({row['forecaster']} on "
                    f"{row['series']!r}) has a mase, fit_s or coverage that is no number; give "
                    "the CSV that `make bench-accuracy` wrote, unedited."
                ) from None
            result = Result(
                row["series"],
                row["forecaster"],
                mase,
                coverage,
                fit_s,
                scored_sha256=row["scored_sha256"],
                # Written before versions had a column of their own: a version no run has.
                peer_version=row.get("peer_version") or "",
            )
            cache[(row["series"], row["forecaster"], row["scored_sha256"])] = result
    return cache
