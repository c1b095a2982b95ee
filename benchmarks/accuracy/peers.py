"""The peers `make bench-accuracy` compares stockcast with, each fitted on the first 80% of a
series and rolled over the rest: statsforecast's AutoETS and AutoTheta, NeuralForecast's MLP and
NHITS (when installed: `pip install -e '.[peers]'`) and AutoGluon-TimeSeries (in a venv of its
own, `make install-autogluon`)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.accuracy.protocol import HORIZON, LEVELS, Cut, Result, score
from benchmarks.common import quiet_console

# NeuralForecast MLP's input size (stockcast's ten-value window); NHITS reads two seasons.
NF_MLP_INPUT = 10
# Each fitted peer's package, whose version decides its score.
PEER_PACKAGE = {
    "AutoETS": "statsforecast",
    "AutoTheta": "statsforecast",
    "NeuralForecast MLP": "neuralforecast",
    "NeuralForecast NHITS": "neuralforecast",
    "AutoGluon": "autogluon.timeseries",
}


def auto_ets(name: str, split: Cut, season: int) -> Result | None:
    """statsforecast's AutoETS, fitted once on the first 80% and rolled over the rest."""
    return _statsforecast(name, split, season, "AutoETS")


def auto_theta(name: str, split: Cut, season: int) -> Result | None:
    """statsforecast's AutoTheta, fitted once on the first 80% and rolled over the rest."""
    return _statsforecast(name, split, season, "AutoTheta")


def _statsforecast(name: str, split: Cut, season: int, method: str) -> Result | None:
    try:
        import pandas as pd
        import statsforecast.models
        from statsforecast import StatsForecast
    except ImportError:
        return None
    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(split.values)), "y": split.values})
    factory = getattr(statsforecast.models, method)
    model = StatsForecast(models=[factory(season_length=max(season, 1))], freq=1, n_jobs=1)
    begin = time.perf_counter()
    cv = model.cross_validation(
        df=frame,
        h=HORIZON,
        step_size=1,
        n_windows=len(split.origins),
        refit=False,
        level=[int(level) for level in LEVELS],
    )
    seconds = time.perf_counter() - begin
    cv = cv.sort_values(["cutoff", "ds"])
    shape = (len(split.origins), HORIZON)
    forecast = cv[method].to_numpy().reshape(shape)
    bands = {
        level: (
            cv[f"{method}-lo-{level}"].to_numpy().reshape(shape),
            cv[f"{method}-hi-{level}"].to_numpy().reshape(shape),
        )
        for level in LEVELS
    }
    return score(name, method, split, forecast, bands, seconds)


def neuralforecast_mlp(name: str, split: Cut) -> Result | None:
    """NeuralForecast's MLP with its defaults (input size 10, as stockcast's), when installed."""
    return _neuralforecast(name, split, "MLP", input_size=NF_MLP_INPUT)


def neuralforecast_nhits(name: str, split: Cut, season: int) -> Result | None:
    """NeuralForecast's NHITS with its defaults, reading two seasons (never fewer than ten
    values, as stockcast's auto window)."""
    return _neuralforecast(name, split, "NHITS", input_size=nhits_input(season))


def nhits_input(season: int) -> int:
    """Two seasons, never fewer values than NeuralForecast MLP's window."""
    return max(NF_MLP_INPUT, 2 * season)


def _neuralforecast(name: str, split: Cut, method: str, input_size: int) -> Result | None:
    try:
        import neuralforecast.models
        import pandas as pd
        from neuralforecast import NeuralForecast
    except ImportError:
        return None
    quiet_console()  # after the import, which sets Lightning's loggers back to INFO
    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(split.values)), "y": split.values})
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-nf-") as tmp:
        # Its Trainer would otherwise leave lightning_logs/ in the current directory.
        quiet = {
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": False,
            "default_root_dir": tmp,
        }
        factory = getattr(neuralforecast.models, method)
        model = NeuralForecast(models=[factory(h=HORIZON, input_size=input_size, **quiet)], freq=1)
        begin = time.perf_counter()
        cv = model.cross_validation(
            df=frame, n_windows=len(split.origins), step_size=1, refit=False
        )
        seconds = time.perf_counter() - begin
    cv = cv.sort_values(["cutoff", "ds"])
    forecast = cv[method].to_numpy().reshape(len(split.origins), HORIZON)
    return score(name, f"NeuralForecast {method}", split, forecast, None, seconds)


# AutoGluon's models that need no download (its pretrained Chronos models fetch weights), run
# for at most AUTOGLUON_TIME_LIMIT_S per series, with its validation-weighted ensemble on top.
AUTOGLUON_MODELS = (
    "Naive",
    "SeasonalNaive",
    "ETS",
    "Theta",
    "RecursiveTabular",
    "DirectTabular",
    "DeepAR",
    "PatchTST",
    "TemporalFusionTransformer",
    "DLinear",
)
AUTOGLUON_TIME_LIMIT_S = 120
AUTOGLUON_SEED = 123
# Each level's band from AutoGluon's quantiles at its two tails (80: 0.1 and 0.9).
AUTOGLUON_QUANTILES = {
    level: (round((100 - int(level)) / 200, 6), round((100 + int(level)) / 200, 6))
    for level in LEVELS
}


def autogluon(name: str, split: Cut, season: int, python: str) -> Result | None:
    """AutoGluon-TimeSeries through its own interpreter (`autogluon_runner.py`), fitted once on
    the first 80% and forecasting every held-out origin; None, with the reason on stderr, when
    that interpreter is missing or fails."""
    if not Path(python).is_file():
        print(f"  AutoGluon skipped: no interpreter at {python}", file=sys.stderr)
        return None
    runner = Path(__file__).with_name("autogluon_runner.py")
    quantiles = sorted({q for pair in AUTOGLUON_QUANTILES.values() for q in pair})
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-ag-") as tmp:
        request, answer = Path(tmp) / "request.json", Path(tmp) / "answer.json"
        request.write_text(
            json.dumps(
                {
                    "values": split.values.tolist(),
                    "start": split.start,
                    "origins": split.origins.tolist(),
                    "horizon": HORIZON,
                    "season": max(season, 1),
                    "quantiles": quantiles,
                    "models": list(AUTOGLUON_MODELS),
                    "time_limit": AUTOGLUON_TIME_LIMIT_S,
                    "seed": AUTOGLUON_SEED,
                }
            )
        )
        done = subprocess.run(
            [python, str(runner), str(request), str(answer)], capture_output=True, text=True
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"  AutoGluon failed on {name}: {last}", file=sys.stderr)
            return None
        found = json.loads(answer.read_text())
    print(
        f"  AutoGluon's best on validation: {found['best']} of {found['models']}", file=sys.stderr
    )
    shape = (len(split.origins), HORIZON)
    forecast = np.asarray(found["mean"], dtype=np.float64).reshape(shape)
    bands = {
        level: tuple(
            np.asarray(found["quantiles"][str(q)], dtype=np.float64).reshape(shape) for q in pair
        )
        for level, pair in AUTOGLUON_QUANTILES.items()
    }
    return score(name, "AutoGluon", split, forecast, bands, float(found["fit_seconds"]))


def peer_settings(peer: str, season: int) -> dict[str, Any]:
    """What one peer's score depends on besides the series, the protocol and its package's
    version (`peer_version`, which the CSV records beside it): its settings here."""
    settings: dict[str, Any] = {
        "NeuralForecast MLP": {"input": NF_MLP_INPUT},
        "NeuralForecast NHITS": {"input": nhits_input(season)},
        "AutoGluon": {
            "models": list(AUTOGLUON_MODELS),
            "time_limit": AUTOGLUON_TIME_LIMIT_S,
            "seed": AUTOGLUON_SEED,
        },
    }.get(peer, {})
    return {"peer": peer, **settings}


def peer_version(peer: str, autogluon_python: str = "") -> str | None:
    """The version of the package that fits `peer` here: None where it is not installed (and
    for AutoGluon, where no interpreter of its venv is given), so this run cannot fit it."""
    if peer == "AutoGluon":
        return autogluon_version(autogluon_python)
    return installed_version(PEER_PACKAGE[peer])


@functools.cache
def installed_version(package: str) -> str | None:
    """A package's version in this environment (None: not installed), read once a run."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def autogluon_version(python: str) -> str | None:
    """AutoGluon-TimeSeries' version in the venv of `python` (None: no such interpreter, or no
    AutoGluon in it), asked once a run."""
    if not python or not Path(python).is_file():
        return None
    package = PEER_PACKAGE["AutoGluon"]
    done = subprocess.run(
        [python, "-c", f"from importlib.metadata import version; print(version({package!r}))"],
        capture_output=True,
        text=True,
    )
    return (done.stdout.strip() or None) if done.returncode == 0 else None
