"""Warm start (train.init_from): a fit begins from a registered model's weights, or is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from safetensors.torch import load_file

from stockcast.errors import ConfigError
from stockcast.registry.store import ModelRegistry
from stockcast.serving.metadata import evaluated_model_dir, model_artifact
from stockcast.serving.model import open_model_dir
from stockcast.training.summary import METRICS_FILE
from stockcast.training.warm_start import differences, resolve_init_from
from tests.conftest import MODEL, PIPELINE_FAST, TRAINING_SEED, run_train

SPEC = {
    "previous_time_window": 10,
    "next_time_window": 5,
    "mlp": {"hidden_sizes": [64, 64], "activation": "relu", "anchor": "last", "quantiles": []},
    "scaler": {"kind": "per_window"},
}


def test_differences_name_each_setting_that_changes_the_weights() -> None:
    assert differences(SPEC, SPEC) == []
    other = json.loads(json.dumps(SPEC))
    other["previous_time_window"] = 30
    other["mlp"]["hidden_sizes"] = [32]
    other["mlp"]["dropout"] = 0.5  # training only: not a difference
    assert differences(SPEC, other) == [
        "previous_time_window is 30, this run's 10",
        "model.hidden_sizes is [32], this run's [64, 64]",
    ]


def test_an_ensemble_is_compared_candidate_by_candidate() -> None:
    """A candidate's dropout or an ets candidate's trends shape training, not the weights; a
    candidate's hidden sizes, kind or window, or their number, do not fit the saved weights."""
    from stockcast.models.kind import model_kind

    candidates = [
        {"kind": "mlp", "window": 10, "hidden_sizes": [100, 100], "activation": "relu",
         "dropout": 0.2},
        {"kind": "ets", "window": None, "trends": ["none", "damped"], "values": "prices"},
    ]  # fmt: skip

    def spec(*changes: tuple[int, str, object]) -> dict:
        model = {"candidates": [dict(c) for c in candidates]}
        for number, key, value in changes:
            model["candidates"][number][key] = value
        network = model_kind("ensemble").network_spec(model, {"season_length": 12})
        return {
            "kind": "ensemble",
            "previous_time_window": 48,
            "next_time_window": 5,
            "anchor": "last",
            "quantiles": [],
            "network": network,
            "scaler": {"kind": "per_window"},
        }

    ours = spec()
    assert differences(ours, spec((0, "dropout", 0.1), (1, "trends", ["none"]))) == []
    assert differences(ours, spec((0, "hidden_sizes", [50]), (1, "window", 24))) == [
        "model.candidates.0.hidden_sizes is [50], this run's [100, 100]",
        "model.candidates.1.window is 24, this run's None",
    ]
    fewer = spec()
    fewer["network"]["candidates"].pop()
    assert differences(ours, fewer) == ["model.candidates has 1 candidates, this run's 2"]
    # What an ets candidate smooths changes what its numbers mean; a spec saved before the
    # choice smoothed prices.
    assert differences(ours, spec((1, "values", "log"))) == [
        "model.candidates.1.values is log, this run's prices"
    ]
    saved_before = spec()
    del saved_before["network"]["candidates"][1]["network"]["values"]
    assert differences(ours, saved_before) == []


def test_the_es_kinds_damping_floor_is_its_architecture() -> None:
    """phi is the floor plus a share of what is left: the same saved weight under another
    `model.min_damping` is another damping, so a warm start changed the model it began from."""
    from stockcast.models.kind import model_kind

    es = model_kind("es")
    ours = {"season_length": 12, "min_damping": 0.8}
    assert es.architecture_differences(ours, {"season_length": 12, "min_damping": 0.3}) == [
        "model.min_damping is 0.3, this run's 0.8"
    ]
    assert es.architecture_differences(ours, dict(ours)) == []


def test_a_season_of_other_data_is_named_as_the_datas_once() -> None:
    """The season a seasonal kind reads is the data's (data.season_length, or found in the
    data): the refusal named model.season_length, and model.candidates.2.season_length and
    model.candidates.3.season_length for experiment=auto's ensemble, settings there are not."""
    from stockcast.models.kind import model_kind

    candidates = [{"kind": "theta", "window": None}, {"kind": "ets", "window": None,
                  "trends": ["none", "damped"], "values": "prices"}]  # fmt: skip

    def spec(kind: str, season: int) -> dict:
        model = {"candidates": candidates} if kind == "ensemble" else {}
        return {
            "kind": kind,
            "previous_time_window": 48,
            "next_time_window": 5,
            "anchor": "last",
            "quantiles": [],
            "network": model_kind(kind).network_spec(model, {"season_length": season}),
            "scaler": {"kind": "per_window"},
        }

    for kind in ("theta", "ensemble"):
        assert differences(spec(kind, 12), spec(kind, 1)) == [
            "data.season_length is 1, this run's 12"
        ]


def test_the_cold_comparison_of_a_resumed_warm_fit_starts_afresh(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """It copied train.resume, and was refused as a resume of the warm fit's checkpoint under
    other settings after the warm fit's whole work (no metrics.json)."""
    from omegaconf import OmegaConf

    from stockcast.training import training_run

    given = []
    cold = {"val": {"mase": 1.0}, "test": {"mase": 1.0}, "fell_back_to_naive": False}
    monkeypatch.setattr(
        training_run,
        "run_training",
        lambda cfg, *_: given.append(cfg) or cold | {"optimizer_steps": 3},
    )
    cfg = OmegaConf.create(
        {
            "trainer": {"devices": 1},
            "train": {"init_from": "champion", "compare_cold": True, "resume": "run"},
            "logger": {"mlflow": {}},
            "paths": {"output_dir": str(tmp_path)},
        }
    )
    training_run.warm_vs_cold(cfg, None, tmp_path, cold)  # type: ignore[arg-type]
    (cold_cfg,) = given
    assert cold_cfg.train.resume is None and cold_cfg.train.init_from is None


def test_a_cold_comparison_that_fails_keeps_the_warm_fit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cold fit that diverged at the full optim.lr failed the whole run after the warm model
    was saved, its metrics.json unwritten, with an error saying no model was saved."""
    from omegaconf import OmegaConf

    from stockcast.training import training_run

    diverged = "the fit diverged: its validation forecasts are not numbers, so no model is saved."

    def refused(*_: object) -> None:
        raise ConfigError(diverged)

    monkeypatch.setattr(training_run, "run_training", refused)
    warm = {"val": {"mase": 0.9}, "test": {"mase": 1.1}, "fell_back_to_naive": False}
    cfg = OmegaConf.create(
        {
            "trainer": {"devices": 1},
            "train": {"init_from": "champion", "compare_cold": True, "resume": None},
            "logger": None,
            "paths": {"output_dir": str(tmp_path)},
        }
    )
    compared = training_run.warm_vs_cold(cfg, None, tmp_path, warm)  # type: ignore[arg-type]
    assert compared == {
        "warm": {"val_mase": 0.9, "test_mase": 1.1, "fell_back_to_naive": False},
        "cold": {"failed": diverged},
    }
    assert "train.compare_cold: the cold fit failed, so nothing is compared" in caplog.text


def test_init_from_is_a_version_or_an_alias() -> None:
    assert resolve_init_from(3) == {"version": 3}
    assert resolve_init_from("3") == {"version": 3}
    assert resolve_init_from("champion") == {"alias": "champion"}


@pytest.mark.slow
def test_a_warm_fit_starts_from_the_champion_weights(
    registered_store: Path, tmp_path: Path, warm_told: list[bool]
) -> None:
    """With a learning rate of ~0 the warm model forecasts as the model it started from does;
    the warm fit tells the fold evidence its weights were loaded, its cold twin not."""
    run_dir = tmp_path / "warm"
    run_train(
        registered_store,
        run_dir,
        *PIPELINE_FAST,
        f"seed={TRAINING_SEED}",
        "logger=none",
        "train.init_from=champion",
        "train.warm_max_steps=6",
        "data.steps_per_batch=1",
        "optim.lr=1e-12",
        "fit.naive_fallback=false",
        "train.compare_cold=true",
    )
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    assert metrics["warm_start"]["version"] == 1
    assert metrics["optimizer_steps"] == 6
    assert warm_told == [True, False], "the warm fit, then its cold twin"
    # The cold twin: same windows, its own (full) budget, its own folder.
    compared = metrics["warm_vs_cold"]
    assert compared["warm"]["val_mase"] == metrics["val"]["mase"]
    assert compared["warm"]["test_mase"] == metrics["test"]["mase"]
    assert compared["cold"]["optimizer_steps"] > 6
    assert (run_dir / "cold" / "model" / "MLmodel").is_file()
    cold = json.loads((run_dir / "cold" / METRICS_FILE).read_text())
    assert (
        cold["warm_start"] is None
        and cold["optimizer_steps"] == compared["cold"]["optimizer_steps"]
        and "warm_vs_cold" not in cold
    )
    registry = ModelRegistry(f"sqlite:///{registered_store}/mlruns.db", MODEL)
    champion = registry.download(registry.resolve(alias="champion"), tmp_path / "champion")
    # A refit champion saw this run's test windows: the fit starts from its evaluated model.
    start = evaluated_model_dir(champion)
    assert metrics["warm_start"]["weights"] == ("evaluated" if start != champion else "registered")
    inputs = np.linspace(100.0, 103.0, 10).reshape(1, -1)
    warm = open_model_dir(run_dir / "model").frame(inputs)
    np.testing.assert_allclose(
        warm.filter(like="forecast_").to_numpy(),
        open_model_dir(start).frame(inputs).filter(like="forecast_").to_numpy(),
        rtol=1e-6,
    )
    # The forecasts alone would also agree for a cold start if both output layers are zero (a
    # naive-fallback champion): every weight must be the start model's.
    warm_weights = load_file(str(model_artifact(run_dir / "model", "weights")))
    start_weights = load_file(str(model_artifact(start, "weights")))
    cold_weights = load_file(str(model_artifact(run_dir / "cold" / "model", "weights")))
    assert warm_weights.keys() == start_weights.keys()
    for name, tensor in start_weights.items():
        np.testing.assert_allclose(warm_weights[name].numpy(), tensor.numpy(), atol=1e-6)
    assert any(
        not np.allclose(cold_weights[name].numpy(), tensor.numpy())
        for name, tensor in start_weights.items()
    ), "a cold fit does not start from those weights"


@pytest.mark.slow
def test_a_mismatched_model_is_refused_before_training(
    registered_store: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as refused:
        run_train(
            registered_store,
            tmp_path / "cold",
            *PIPELINE_FAST,
            "logger=none",
            "train.init_from=1",
            "data.previous_time_window=12",
        )
    message = str(refused.value)
    assert message.startswith(f"train.init_from=1 names {MODEL} version 1, which cannot start")
    assert "previous_time_window is 10, this run's 12" in message
    assert not (tmp_path / "cold" / METRICS_FILE).exists()


@pytest.mark.slow
def test_weights_of_later_data_are_refused_before_training(
    registered_store: Path, tmp_path: Path
) -> None:
    """A run of an earlier day (data.require_new_data=false) started from a version of later
    data would report and gate a test score of values its weights were fitted or chosen on."""
    registry = ModelRegistry(f"sqlite:///{registered_store}/mlruns.db", MODEL)
    end = registry.resolve(version=1).tags["data_last_date"]
    earlier = str(np.datetime64(end) - np.timedelta64(10, "D"))
    with pytest.raises(ConfigError) as refused:
        run_train(
            registered_store,
            tmp_path / "backfill",
            *PIPELINE_FAST,
            "logger=none",
            "train.init_from=champion",
            f"data.as_of={earlier}",
        )
    message = str(refused.value)
    assert message.startswith(
        f"train.init_from=champion names {MODEL} version 1, whose data ends on {end}, after "
        "this run's ("
    )
    assert message.endswith("or train cold (train.init_from=null).")
    assert not (tmp_path / "backfill" / METRICS_FILE).exists()


@pytest.mark.slow
@pytest.mark.slow
def test_a_warm_fit_logs_the_rate_and_budget_it_trained_with(
    registered_store: Path, tmp_path: Path
) -> None:
    """Its MLflow params showed optim.lr and trainer.max_steps, the cold fit's, not the
    optim.lr x train.warm_lr_scale and train.warm_max_steps it trained with."""
    store = tmp_path / "store"
    shutil.copytree(registered_store, store)  # this test's run is logged into its store
    run_dir = tmp_path / "warm"
    run_train(
        store,
        run_dir,
        *PIPELINE_FAST,
        "train.init_from=champion",
        "train.warm_max_steps=6",
        "train.warm_lr_scale=0.25",
        "optim.lr=2e-3",
    )
    run_id = json.loads((run_dir / METRICS_FILE).read_text())["training_run_id"]
    params = MlflowClient(f"sqlite:///{store}/mlruns.db").get_run(run_id).data.params
    assert (params["optim.lr"], params["optim.lr_used"]) == ("0.002", "0.0005")
    assert (params["trainer.max_steps"], params["trainer.max_steps_used"]) == ("1000", "6")


def test_compare_cold_without_a_warm_start_says_so(
    registered_store: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It did nothing without a word (a replay's first day has no champion to start from)."""
    run_train(
        registered_store,
        tmp_path / "cold",
        *PIPELINE_FAST,
        "logger=none",
        "train.compare_cold=true",
    )
    metrics = json.loads((tmp_path / "cold" / METRICS_FILE).read_text())
    assert metrics["warm_vs_cold"] == {
        "skipped": "no warm fit to compare (train.init_from is null)"
    }
    assert "train.compare_cold: no warm fit to compare with a cold one" in caplog.text


def test_a_warm_start_keeps_this_runs_train_statistics() -> None:
    """The champion's weights file holds the statistics its `standard` member scaled by (its
    data's, prices near 10); loading them over this run's (near 5,000, what this run's spec
    records and its saved model is rebuilt from) scaled every window by the wrong ones."""
    import torch

    from stockcast.models.spec import build_price_forecaster
    from stockcast.training.warm_start import load_keeping_scaling

    def spec(loc: float, scale: float) -> dict:
        members = [{"kind": "per_window", "loc": 0.0, "scale": 1.0}]
        members.append({"kind": "standard", "loc": loc, "scale": scale})
        return {
            "previous_time_window": 10,
            "next_time_window": 5,
            "mlp": {"hidden_sizes": [8], "activation": "relu", "dropout": 0.0, "anchor": "last"},
            "scaler": {"kind": "per_window+standard", "members": members,
                       "min_relative_scale": 1e-4, "level": loc},
        }  # fmt: skip

    champion = build_price_forecaster(spec(10.0, 2.0))
    for parameter in champion.parameters():
        torch.nn.init.normal_(parameter)
    ours = spec(5000.0, 250.0)
    net = build_price_forecaster(ours)
    load_keeping_scaling(net, ours, champion.state_dict())
    assert [float(s.loc) for s in net.scalers] == [0.0, 5000.0]
    assert [float(s.scale) for s in net.scalers] == [1.0, 250.0]
    for name, tensor in champion.core.state_dict().items():
        assert torch.equal(net.core.state_dict()[name], tensor), name


def gated_ensemble_spec() -> dict:
    """An ensemble's spec with mlp, Theta and ets candidates: the gates a naive fallback zeroed
    (ets's is no weight a step moves)."""
    from stockcast.models.kind import model_kind

    candidates = [
        {"kind": "mlp", "window": 10, "hidden_sizes": [8], "activation": "relu", "dropout": 0.0},
        {"kind": "theta", "window": None},
        {"kind": "ets", "window": None, "trends": ["none"]},
    ]
    network = model_kind("ensemble").network_spec({"candidates": candidates}, {"season_length": 1})
    return {
        "kind": "ensemble",
        "previous_time_window": 20,
        "next_time_window": 5,
        "network": network,
        "anchor": "last",
        "quantiles": [],
        "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
    }


def test_a_champion_that_fell_back_restarts_its_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The naive fallback zeroed every candidate's outputs, ets's and Theta's gates among them:
    ets's gate is no weight a step moves, so a warm start from such a champion repeated the
    last price through ets (and nearly so through Theta) in every warm fit after it."""
    from types import SimpleNamespace

    import torch
    from omegaconf import OmegaConf

    from stockcast.models.spec import build_price_forecaster
    from stockcast.training import warm_start as warm_module

    spec = gated_ensemble_spec()
    champion = build_price_forecaster(spec)
    champion.fall_back_to_naive()
    source = {"version": 1, "model_name": "m", "model_hash": "h", "weights": "registered"}
    warm = warm_module.WarmStart(champion.state_dict(), source, fell_back=True)
    monkeypatch.setattr(warm_module, "warm_start", lambda *_: warm)
    model = SimpleNamespace(net=build_price_forecaster(spec), optimizer_factory=torch.optim.Adam)
    cfg = OmegaConf.create({"optim": {"lr": 1e-3}, "train": {"warm_lr_scale": 0.1,
                           "warm_max_steps": 5}})  # fmt: skip
    warm_module.start_warm(cfg, model, spec, Path("."), None)
    cold = build_price_forecaster(spec).state_dict()
    for name, tensor in model.net.state_dict().items():
        if name.endswith("gate"):
            assert torch.equal(tensor, cold[name]), name
    assert any(name.endswith("gate") for name in cold)


@pytest.mark.slow
def test_a_model_folder_says_whether_it_fell_back(trained_run: Path) -> None:
    """What a warm start from it reads (`WarmStart.fell_back`)."""
    from stockcast.serving.metadata import read_model_metadata

    metrics = json.loads((trained_run / METRICS_FILE).read_text())
    metadata = read_model_metadata(trained_run / "model")
    assert metadata["naive_fallback"] is metrics["fell_back_to_naive"]


def test_a_champion_saved_before_the_fallback_was_recorded_is_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Older code wrote no `naive_fallback` into a model's metadata: its naive-fallback
    champion, read as not fallen back, kept its ets and Theta gates at zero in every warm fit."""
    from types import SimpleNamespace

    import yaml
    from omegaconf import OmegaConf
    from safetensors.torch import save_file

    from stockcast.models.spec import build_price_forecaster
    from stockcast.training import warm_start as warm_module

    spec = gated_ensemble_spec()

    def old_folder(name: str, fell_back: bool) -> Path:
        """A model folder as older code wrote it: its metadata without `naive_fallback`."""
        folder = tmp_path / name
        (folder / "artifacts").mkdir(parents=True)
        net = build_price_forecaster(spec)
        if fell_back:
            net.fall_back_to_naive()
        save_file(net.state_dict(), str(folder / "artifacts" / "weights.safetensors"))
        (folder / "artifacts" / "spec.json").write_text(json.dumps(spec))
        artifacts = {name: {"path": f"artifacts/{file}"} for name, file in
                     (("spec", "spec.json"), ("weights", "weights.safetensors"))}  # fmt: skip
        mlmodel = {"flavors": {"python_function": {"artifacts": artifacts}},
                   "metadata": {"kind": "stockcast.model", "warm_start": None}}  # fmt: skip
        (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
        return folder

    class OldStore:
        model_name = "m"
        folder = tmp_path

        @classmethod
        def from_config(cls, _: object) -> OldStore:
            return cls()

        def resolve(self, **_: object) -> SimpleNamespace:
            return SimpleNamespace(version=1, tags={})

        def label(self, _: object) -> str:
            return "m version 1"

        def verified_folder(self, *_: object) -> tuple[Path, str]:
            return OldStore.folder, "hash"

    monkeypatch.setattr(warm_module, "ModelRegistry", OldStore)
    cfg = OmegaConf.create({"train": {"init_from": "champion"}, "registry": {}})
    OldStore.folder = old_folder("fell_back", fell_back=True)
    assert warm_module.warm_start(cfg, spec, tmp_path / "work").fell_back
    OldStore.folder = old_folder("fitted", fell_back=False)
    assert not warm_module.warm_start(cfg, spec, tmp_path / "work").fell_back
