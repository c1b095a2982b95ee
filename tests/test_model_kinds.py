"""The model seam: kinds are found by name, refused in one sentence, and a kind that lives
outside `src/` (tests/model_kinds/drift.py and its config) trains, registers, serves and predicts
through the same code as the MLP."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from stockcast.config.schema import validate_config
from stockcast.errors import ConfigError
from stockcast.models.kind import builtin_kinds, model_kind
from stockcast.models.settings import ModelSettings
from stockcast.models.spec import build_price_forecaster, upgrade_spec
from stockcast.paths import PROJECT_ROOT
from stockcast.prediction.task import run_predict
from stockcast.registry.store import ModelRegistry
from stockcast.serving.model import open_version
from stockcast.serving.server import Limits, build_app
from tests.conftest import (
    AS_OF,
    LENIENT_GATE,
    PIPELINE_FAST,
    isolated_overrides,
    run_local_pipeline,
    run_task,
    seed_store,
)
from tests.model_kinds.drift import NAME as DRIFT

SEARCH_PATH = f"hydra.searchpath=[file://{PROJECT_ROOT / 'tests' / 'configs'}]"
DRIFT_MODEL = "drift_predictor"


def test_the_built_in_kinds_are_found_by_name() -> None:
    assert "mlp" in builtin_kinds()
    assert model_kind("mlp").name == "mlp"
    assert model_kind(DRIFT).name == DRIFT


def test_a_kinds_weights_depend_on_all_its_keys_unless_it_says_fewer() -> None:
    assert model_kind("theta").architecture_keys == ("season_length",)  # its data key
    assert model_kind("ensemble").architecture_keys == ("candidates",)
    assert model_kind(DRIFT).architecture_keys == ()
    # Dropout only shapes training: the MLP names the keys that change what its weights mean.
    assert model_kind("mlp").architecture_keys == ("hidden_sizes", "activation")


def test_an_unknown_kind_is_one_sentence_naming_the_kinds(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kind in a lone top-level module cannot be named (a name without a dot is a built-in
    # kind's): the advice to name a module that defines KIND could not be followed.
    (tmp_path / "lone_kind.py").write_text(
        (PROJECT_ROOT / "tests" / "model_kinds" / "drift.py")
        .read_text()
        .replace(DRIFT, "lone_kind")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for kind in ("nope", "lone_kind"):
        with pytest.raises(ConfigError) as caught:
            validate_config(make_cfg(f"model.kind={kind}"))
        assert str(caught.value) == (
            f"model.kind is {kind!r}; choose one of {builtin_kinds()} (model=<kind>), or name a "
            "module that defines KIND by its dotted path in a package (package.module: a name "
            "without a dot is a built-in kind's)."
        )
    with pytest.raises(ConfigError, match=r"in candidate 0; choose one of .*, or name a module th"):
        validate_config(make_cfg("model=ensemble", "model.candidates=[{kind: lone_kind}]"))
    # A module path that does not import says where it must be: src/train.py puts only src/
    # on the path, so a kind beside the project's root was refused as if it defined no KIND.
    with pytest.raises(ConfigError, match=r"or name a module importable here \(its root on PYTHON"):
        validate_config(make_cfg("model.kind=kinds_elsewhere.drift"))


def test_a_kind_modules_own_mistakes_are_named_as_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A module without KIND read as an unknown kind, and one whose settings' Literal named
    another kind as the config's mistake (`model.kind is ...; choose one of 'good'`)."""
    from dataclasses import replace
    from types import SimpleNamespace
    from typing import Literal

    from tests.model_kinds.drift import KIND, DriftSettings

    monkeypatch.setitem(sys.modules, "odd_kinds.nokind", SimpleNamespace())
    with pytest.raises(ConfigError, match=r"the module odd_kinds.nokind was found but defines no"):
        model_kind("odd_kinds.nokind")

    class Misnamed(DriftSettings):
        kind: Literal["good"]  # type: ignore[assignment]

    misnamed = SimpleNamespace(KIND=replace(KIND, settings=Misnamed))
    monkeypatch.setitem(sys.modules, "odd_kinds.misnamed", misnamed)
    with pytest.raises(ConfigError) as refused:
        model_kind("odd_kinds.misnamed")
    assert str(refused.value) == (
        "odd_kinds.misnamed's settings take model.kind 'good', not the 'odd_kinds.misnamed' it "
        "is chosen by; make its settings' kind Literal['odd_kinds.misnamed']."
    )

    class Unnamed(ModelSettings):  # kind stays the shared str
        pass

    from pydantic import BaseModel

    class Plain(BaseModel):
        kind: Literal["odd_kinds.unnamed"]

    # A settings class that is not a ModelSettings was a KeyError or an AttributeError deep in
    # the schema; one whose kind is a plain string was accepted, against the seam's contract.
    for settings, message in [
        (Unnamed, "'s settings leave kind a plain string; declare kind: Literal["),
        (Plain, "'s KIND settings are not a subclass of stockcast.models.settings.ModelSettings"),
    ]:
        unnamed = replace(KIND, name="odd_kinds.unnamed", settings=settings)
        monkeypatch.setitem(sys.modules, "odd_kinds.unnamed", SimpleNamespace(KIND=unnamed))
        with pytest.raises(ConfigError) as refused:
            model_kind("odd_kinds.unnamed")
        assert str(refused.value).startswith(f"odd_kinds.unnamed{message}")

    class Renamed(DriftSettings):
        kind: Literal["odd_kinds.renamed"]  # type: ignore[assignment]

    # Named like a built-in: its model folder shipped the MLP's module, not its own, so it
    # opened nowhere its module was not importable, and its members were reported as MLPs.
    for other in ("mlp", "renamed"):
        renamed = SimpleNamespace(KIND=replace(KIND, name=other, settings=Renamed))
        monkeypatch.setitem(sys.modules, "odd_kinds.renamed", renamed)
        with pytest.raises(ConfigError) as refused:
            model_kind("odd_kinds.renamed")
        assert str(refused.value) == (
            f"odd_kinds.renamed's KIND is named {other!r}, not 'odd_kinds.renamed', its module's "
            "name, by which a model folder finds and ships the kind's code; name it "
            "'odd_kinds.renamed'."
        )


def test_a_kind_module_that_fails_on_import_is_one_sentence_naming_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kind's module importing a missing package, or failing at its top level, was a
    traceback through the schema, importlib and Hydra instead of one sentence."""
    package = tmp_path / "failing_kinds"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "missing.py").write_text("import not_installed_anywhere\n")
    (package / "raising.py").write_text("\nraise RuntimeError('boom')\n")
    (package / "broken.py").write_text("def oops(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cases = {
        "missing": f"{package / 'missing.py'} line 1 (ModuleNotFoundError: No module named "
        "'not_installed_anywhere'); install not_installed_anywhere or fix that import.",
        "raising": f"{package / 'raising.py'} line 2 (RuntimeError: boom); fix the module.",
        "broken": f"{package / 'broken.py'} line 1 (SyntaxError: ",
    }
    for module, message in cases.items():
        name = f"failing_kinds.{module}"
        with pytest.raises(ConfigError) as refused:
            model_kind(name)
        assert str(refused.value).startswith(
            f"model.kind is {name!r}: importing its module {name} failed at {message}"
        )


def test_a_kinds_training_module_that_leads_nowhere_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A training_module naming a missing module or class was a ModuleNotFoundError or an
    AttributeError traceback from the train step, after the data was prepared."""
    from dataclasses import replace
    from types import SimpleNamespace
    from typing import Literal

    from stockcast.training.build import training_module_class
    from stockcast.training.module import Forecaster
    from tests.model_kinds.drift import KIND, DriftSettings

    class Trained(DriftSettings):
        kind: Literal["odd_kinds.trained"]  # type: ignore[assignment]

    cases = {
        "nowhere_kinds.trainer:Trainer": "cannot be imported (ModuleNotFoundError: No module "
        "named 'nowhere_kinds')",
        "stockcast.training.module:Trainer": "names no Trainer in stockcast.training.module",
        "stockcast.training.module": "is not a module and a class in it",
    }
    for named, problem in cases.items():
        trained = replace(KIND, name="odd_kinds.trained", settings=Trained, training_module=named)
        monkeypatch.setitem(sys.modules, "odd_kinds.trained", SimpleNamespace(KIND=trained))
        with pytest.raises(ConfigError) as refused:
            training_module_class("odd_kinds.trained")
        assert str(refused.value) == (
            f"model.kind=odd_kinds.trained: its KIND's training_module {named!r} {problem}; name "
            "its LightningModule as 'package.module:Class' (by default "
            "stockcast.training.module:Forecaster)."
        )
    assert training_module_class(DRIFT) is Forecaster


def test_a_kind_whose_settings_never_reach_its_network_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key its settings declared but network_keys left out was validated and logged, and
    never reached build_core: a sweep over it trained one model several times."""
    from dataclasses import replace
    from typing import Literal

    from stockcast.models.kind import unrecorded_settings
    from tests.model_kinds.drift import KIND, DriftSettings

    class Damped(DriftSettings):
        kind: Literal["forgetful_kinds.damped"]  # type: ignore[assignment]
        damping: float

    assert unrecorded_settings(KIND) == []
    forgetful = replace(KIND, settings=Damped)
    assert unrecorded_settings(forgetful) == ["damping"]
    assert unrecorded_settings(replace(forgetful, network_keys=("damping",))) == []
    for name in builtin_kinds():
        assert unrecorded_settings(model_kind(name)) == [], name
    from types import SimpleNamespace

    monkeypatch.setitem(sys.modules, "forgetful_kinds.damped", SimpleNamespace(KIND=forgetful))
    with pytest.raises(ConfigError) as refused:
        model_kind("forgetful_kinds.damped")
    assert str(refused.value) == (
        "forgetful_kinds.damped's model settings damping never reach its network (its KIND's "
        "network_keys leave them out), so setting or sweeping them would change nothing; add "
        "them to network_keys, or drop them from its settings."
    )


def test_a_kind_whose_network_keys_its_settings_lack_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A network key no setting declares (`hidden` for hidden_sizes) passed every check, then
    was a raw KeyError as the network spec was read for training."""
    from dataclasses import replace
    from types import SimpleNamespace
    from typing import Literal

    from stockcast.models.kind import unsettable_network_keys
    from tests.model_kinds.drift import KIND, DriftSettings

    class Sized(DriftSettings):
        kind: Literal["odd_kinds.sized"]  # type: ignore[assignment]
        hidden_sizes: list[int]

    keys = ("hidden_sizes", "hidden")
    mistyped = replace(KIND, name="odd_kinds.sized", settings=Sized, network_keys=keys)
    assert unsettable_network_keys(mistyped) == ["hidden"]
    assert unsettable_network_keys(replace(mistyped, network_keys=keys[:1])) == []
    for name in builtin_kinds():
        assert unsettable_network_keys(model_kind(name)) == [], name
    monkeypatch.setitem(sys.modules, "odd_kinds.sized", SimpleNamespace(KIND=mistyped))
    with pytest.raises(ConfigError) as refused:
        model_kind("odd_kinds.sized")
    assert str(refused.value) == (
        "odd_kinds.sized's KIND network_keys name hidden, which its model settings lack, so no "
        "config sets them and its network spec cannot be read; name its settings' keys (as the "
        "config spells them) in network_keys, or add those keys to its settings."
    )


def test_a_kinds_data_key_the_prepared_data_lacks_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A data key meta.json does not hold (`season` for season_length) was a raw KeyError as
    the network spec was read for training, alone and as an ensemble's candidate."""
    from dataclasses import replace
    from types import SimpleNamespace
    from typing import Literal

    from stockcast.forecasting.windows import WindowSizes
    from stockcast.models.spec import network_spec
    from tests.model_kinds.drift import KIND, DriftSettings

    class Seasonal(DriftSettings):
        kind: Literal["odd_kinds.seasonal"]  # type: ignore[assignment]

    seasonal = replace(KIND, name="odd_kinds.seasonal", settings=Seasonal, data_keys=("season",))
    monkeypatch.setitem(sys.modules, "odd_kinds.seasonal", SimpleNamespace(KIND=seasonal))
    meta = {"season_length": 5, "mase_scale": 1.0}
    scaler = {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4}
    alone = {"kind": "odd_kinds.seasonal", "anchor": "last", "quantiles": []}
    ensemble = alone | {"kind": "ensemble", "candidates": [{"kind": "odd_kinds.seasonal"}]}
    for model in (alone, ensemble):
        with pytest.raises(ConfigError) as refused:
            network_spec(model, WindowSizes(10, 5), scaler, meta)
        assert str(refused.value) == (
            "model.kind=odd_kinds.seasonal: its KIND's data_keys name season, which the prepared "
            "data's meta.json lacks (it holds mase_scale, season_length); name entries the "
            "prepare step writes there in data_keys, or run prepare again where the folder "
            "predates them."
        )
    named = replace(seasonal, data_keys=("season_length",))
    monkeypatch.setitem(sys.modules, "odd_kinds.seasonal", SimpleNamespace(KIND=named))
    assert network_spec(alone, WindowSizes(10, 5), scaler, meta)["network"] == {"season_length": 5}


def test_a_core_that_misses_the_contract_is_one_sentence_naming_its_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A core without zero_outputs failed as an AttributeError inside the network, one with
    another member count as a ValueError of core members and scalers, one of another output
    width only after training, at the first metric."""
    from dataclasses import replace
    from types import SimpleNamespace
    from typing import Literal

    from torch import nn

    from tests.model_kinds.drift import KIND, Drift, DriftSettings

    class NoZeroing(nn.Module):
        members = 1

    class Broken(DriftSettings):
        kind: Literal["broken_kinds.core"]  # type: ignore[assignment]

    class Unread(Drift):
        """Reads one value more than the window: a RuntimeError traceback from the check."""

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return features[..., :11] @ torch.zeros(11, 5)

    class Undefined(Drift):
        """Forecasts NaN: it trained to a NaN loss, and its naive fallback forecast NaN."""

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return super().forward(features) / features.sum(dim=-1, keepdim=True)

    spec = {
        "kind": "broken_kinds.core",
        "network": {},
        "previous_time_window": 10,
        "next_time_window": 5,
        "anchor": "last",
        "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
    }
    cases = [
        (lambda *_: NoZeroing(), "its build_core returned a core without zero_outputs; a core"),
        (lambda *_: Drift(2, 5), "its core holds 2 member(s) where the network has 1"),
        (
            lambda *_: Drift(1, 4),
            "its core maps (members, batch, inputs) = (1, 1, 10) to (1, 1, 4) where the network "
            "needs (1, 1, 5)",
        ),
        (
            lambda *_: Unread(1, 5),
            "its core fails on features (members, batch, inputs) = (1, 1, 10) (RuntimeError: ",
        ),
        (
            lambda *_: Undefined(1, 5),
            "its core forecasts a window of zeros (a flat one, scaled) as NaN or infinity",
        ),
    ]
    for build, message in cases:
        broken = SimpleNamespace(
            KIND=replace(KIND, name=spec["kind"], settings=Broken, build_core=build)
        )
        monkeypatch.setitem(sys.modules, "broken_kinds.core", broken)
        with pytest.raises(ConfigError) as refused:
            build_price_forecaster(spec)
        assert str(refused.value).startswith(f"model.kind=broken_kinds.core: {message}")


def test_a_build_core_that_raises_is_one_sentence_naming_its_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kind's build_core reading a mistyped network key was a raw KeyError traceback from
    the train step, alone and as an ensemble's candidate, where its core's forward was one
    sentence."""
    from dataclasses import replace
    from types import SimpleNamespace
    from typing import Literal

    from tests.model_kinds.drift import KIND, DriftSettings

    class Mistyped(DriftSettings):
        kind: Literal["odd_kinds.mistyped"]  # type: ignore[assignment]

    def build(network: dict[str, Any], *_: object) -> Any:
        return network["hidden"]

    mistyped = replace(KIND, name="odd_kinds.mistyped", settings=Mistyped, build_core=build)
    monkeypatch.setitem(sys.modules, "odd_kinds.mistyped", SimpleNamespace(KIND=mistyped))
    alone = {
        "kind": "odd_kinds.mistyped",
        "network": {"hidden_sizes": [8]},
        "previous_time_window": 10,
        "next_time_window": 5,
        "anchor": "last",
        "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
    }
    candidate = {"kind": "odd_kinds.mistyped", "window": None, "network": {"hidden_sizes": [8]}}
    ensemble = alone | {"kind": "ensemble", "network": {"candidates": [candidate]}}
    line = build.__code__.co_firstlineno + 1
    for spec in (alone, ensemble):
        with pytest.raises(ConfigError) as refused:
            build_price_forecaster(spec)
        assert str(refused.value) == (
            f"model.kind=odd_kinds.mistyped: its build_core failed at {__file__} line {line} "
            "(KeyError: 'hidden') given the network keys ['hidden_sizes']; fix its build_core, "
            "which gets that network block (its KIND's network_keys and data_keys), the window, "
            "member_inputs and outputs (models/kind.py: ModelKind)."
        )


def test_an_upgrade_state_that_raises_is_one_sentence_naming_its_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kind's upgrade_state reading a key the saved weights lack was a raw KeyError traceback
    wherever a model folder's weights were loaded (predict, serve, a refit, a warm start)."""
    from dataclasses import replace
    from types import SimpleNamespace
    from typing import Literal

    from stockcast.models.spec import saved_forecaster
    from tests.model_kinds.drift import KIND, DriftSettings

    class Upgraded(DriftSettings):
        kind: Literal["odd_kinds.upgraded"]  # type: ignore[assignment]

    def upgrade(state: dict[str, Any]) -> dict[str, Any]:
        state["core.drift"] = state.pop("mlp.drift")
        return state

    upgraded = replace(KIND, name="odd_kinds.upgraded", settings=Upgraded, upgrade_state=upgrade)
    monkeypatch.setitem(sys.modules, "odd_kinds.upgraded", SimpleNamespace(KIND=upgraded))
    spec = {
        "kind": "odd_kinds.upgraded",
        "network": {},
        "previous_time_window": 10,
        "next_time_window": 5,
        "anchor": "last",
        "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
    }
    state = build_price_forecaster(spec).state_dict()
    with pytest.raises(ConfigError) as refused:
        saved_forecaster(spec, state)
    line = upgrade.__code__.co_firstlineno + 1
    assert str(refused.value) == (
        f"model.kind=odd_kinds.upgraded: its upgrade_state failed at {__file__} line {line} "
        "(KeyError: 'mlp.drift') on saved weights; fix its upgrade_state, which gets the saved "
        "state dict and returns it in the layout its core has today (models/kind.py: ModelKind)."
    )
    legacy = {key.replace("core.", "mlp."): value for key, value in state.items()}
    assert saved_forecaster(spec, legacy).state_dict().keys() == state.keys()


def test_an_ensemble_upgrades_each_candidates_saved_weights_with_its_own_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ensemble's upgrade_state was the identity: a candidate kind whose saved layout changed
    (its own upgrade_state renames a weight) loaded inside an ensemble as a traceback of missing
    and unexpected keys. A candidate's upgrade_state that raises names the candidate's kind."""
    from dataclasses import replace
    from types import SimpleNamespace
    from typing import Literal

    from stockcast.models.spec import saved_forecaster
    from tests.model_kinds.drift import KIND, DriftSettings

    class Upgraded(DriftSettings):
        kind: Literal["odd_kinds.upgraded"]  # type: ignore[assignment]

    def upgrade(state: dict[str, Any]) -> dict[str, Any]:
        """Each key as this kind's core alone has it: `core.old_drift` is today's `core.drift`."""
        return {key.replace("core.old_drift", "core.drift"): value for key, value in state.items()}

    upgraded = replace(KIND, name="odd_kinds.upgraded", settings=Upgraded, upgrade_state=upgrade)
    monkeypatch.setitem(sys.modules, "odd_kinds.upgraded", SimpleNamespace(KIND=upgraded))
    mlp = {"hidden_sizes": [4], "activation": "relu", "dropout": 0.0}
    spec = {
        "kind": "ensemble",
        "network": {
            "candidates": [
                {"kind": "mlp", "window": None, "network": mlp},
                {"kind": "odd_kinds.upgraded", "window": 4, "network": {}},
            ]
        },
        "previous_time_window": 10,
        "next_time_window": 5,
        "anchor": "last",
        "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
    }
    state = build_price_forecaster(spec).state_dict()
    with torch.no_grad():
        state["core.cores.1.drift"] += 2.5
    legacy = {key.replace("cores.1.drift", "cores.1.old_drift"): v for key, v in state.items()}
    loaded = saved_forecaster(spec, legacy).state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[key], value) for key, value in state.items())

    def fails(state: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("core.older_drift")

    failing = replace(upgraded, upgrade_state=fails)
    monkeypatch.setitem(sys.modules, "odd_kinds.upgraded", SimpleNamespace(KIND=failing))
    with pytest.raises(ConfigError) as refused:
        saved_forecaster(spec, legacy)
    assert str(refused.value).startswith(
        f"model.kind=odd_kinds.upgraded: its upgrade_state failed at {__file__} line "
        f"{fails.__code__.co_firstlineno + 1} (KeyError: 'core.older_drift') on saved weights;"
    )


def test_an_ensembles_candidates_are_held_to_the_same_contract(
    make_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A candidate's kind whose module is wrong was reported as an unknown kind; a candidate's
    own loss (a shared key) was validated and never used; a candidate's broken core failed as
    an AttributeError, or was named as the ensemble's."""
    from dataclasses import replace
    from types import SimpleNamespace
    from typing import Literal

    from pydantic import Field

    from stockcast.models.kind import unrecorded_settings
    from tests.model_kinds.drift import KIND, Drift, DriftSettings

    class Aliased(DriftSettings):
        kind: Literal["odd_kinds.aliased"]  # type: ignore[assignment]
        lambda_: float = Field(alias="lambda")

    aliased = replace(KIND, settings=Aliased, network_keys=("lambda",))
    assert unrecorded_settings(aliased) == [], "a key is the config's name, its alias"

    class Forgetful(DriftSettings):
        kind: Literal["odd_kinds.forgetful"]  # type: ignore[assignment]
        damping: float = 0.5

    monkeypatch.setitem(
        sys.modules, "odd_kinds.forgetful", SimpleNamespace(KIND=replace(KIND, settings=Forgetful))
    )
    ensemble = "model=ensemble"
    # A key its settings default that a candidate leaves out passed the schema, then was a
    # KeyError as the network spec was read for training.
    defaulted = replace(
        KIND, name="odd_kinds.forgetful", settings=Forgetful, network_keys=("damping",)
    )
    monkeypatch.setitem(sys.modules, "odd_kinds.forgetful", SimpleNamespace(KIND=defaulted))
    cfg = make_cfg(ensemble, "model.candidates=[{kind: odd_kinds.forgetful}]")
    validate_config(cfg)
    assert model_kind("ensemble").network_spec(cfg.model, {})["candidates"][0]["network"] == {
        "damping": 0.5
    }
    monkeypatch.setitem(
        sys.modules, "odd_kinds.forgetful", SimpleNamespace(KIND=replace(KIND, settings=Forgetful))
    )
    with pytest.raises(ConfigError) as refused:
        validate_config(make_cfg(ensemble, "model.candidates=[{kind: odd_kinds.forgetful}]"))
    assert "whose module is wrong: odd_kinds.forgetful's model settings damping never reach" in (
        str(refused.value)
    )
    with pytest.raises(ConfigError) as refused:
        validate_config(
            make_cfg(ensemble, "model.candidates=[{kind: mlp, hidden_sizes: [8], loss: mae}]")
        )
    assert "sets loss in candidate 0, which every candidate shares with the model; set " in (
        str(refused.value)
    )

    class Trained(DriftSettings):
        kind: Literal["odd_kinds.trained"]  # type: ignore[assignment]

    # The ensemble's network trains with the ensemble's module: a candidate's own was dropped.
    trained = replace(
        KIND, name="odd_kinds.trained", settings=Trained, training_module="odd_kinds.fit:Ridge"
    )
    monkeypatch.setitem(sys.modules, "odd_kinds.trained", SimpleNamespace(KIND=trained))
    with pytest.raises(ConfigError) as refused:
        validate_config(make_cfg(ensemble, "model.candidates=[{kind: odd_kinds.trained}]"))
    assert str(refused.value) == (
        "model.candidates has kind 'odd_kinds.trained' in candidate 0, which trains with its own "
        "odd_kinds.fit:Ridge where an ensemble trains every candidate with "
        "stockcast.training.module:Forecaster; train that kind alone, or leave it out."
    )

    class Broken(DriftSettings):
        kind: Literal["odd_kinds.broken"]  # type: ignore[assignment]

    broken = replace(
        KIND, name="odd_kinds.broken", settings=Broken, build_core=lambda *_: Drift(3, 5)
    )
    monkeypatch.setitem(sys.modules, "odd_kinds.broken", SimpleNamespace(KIND=broken))
    spec = {
        "kind": "ensemble",
        "network": {"candidates": [{"kind": "odd_kinds.broken", "window": None, "network": {}}]},
        "previous_time_window": 10,
        "next_time_window": 5,
        "anchor": "last",
        "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
    }
    with pytest.raises(ConfigError, match=r"^model.kind=odd_kinds.broken: its core holds 3"):
        build_price_forecaster(spec)


def test_a_kind_validates_its_own_keys(make_cfg) -> None:
    with pytest.raises(ConfigError, match=r"^model.hidden_sizes is 0; it must be a list of whole"):
        validate_config(make_cfg("model.hidden_sizes=[0]"))
    cfg = make_cfg(SEARCH_PATH, "model=drift")
    assert validate_config(cfg).model.kind == DRIFT


def test_a_kind_outside_the_package_is_advised_by_its_configs_name(tmp_path: Path) -> None:
    """An outside kind is chosen by its config file's name (model=drift), not its module's:
    the advice to choose `model=tests.model_kinds.drift` named no config."""
    overrides = [*isolated_overrides(tmp_path), AS_OF, SEARCH_PATH]
    with pytest.raises(ConfigError) as caught:
        run_task(lambda cfg: None, "train", [*overrides, f"model.kind={DRIFT}"], tmp_path)
    assert str(caught.value).endswith(
        "choose the kind's own config with model=<name> (its model/<name>.yaml, found with "
        "hydra.searchpath) instead of setting model.kind."
    )
    with pytest.raises(ConfigError) as caught:
        run_task(
            lambda cfg: None, "train", [*overrides, "experiment=mlp_w30", "model=drift"], tmp_path
        )
    assert str(caught.value).startswith(
        "model.hidden_sizes is a setting of model=mlp, not of model=drift (experiment=mlp_w30 "
        "sets it); drop model=drift,"
    )


def test_a_spec_saved_before_model_kinds_reads_as_an_mlp() -> None:
    old = {
        "previous_time_window": 4,
        "next_time_window": 2,
        "mlp": {
            "hidden_sizes": [8],
            "activation": "relu",
            "dropout": 0.0,
            "anchor": "last",
            "quantiles": [],
        },
        "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
    }
    spec = upgrade_spec(old)
    assert spec["kind"] == "mlp" and spec["network"] == {
        "hidden_sizes": [8],
        "activation": "relu",
        "dropout": 0.0,
    }
    assert spec["anchor"] == "last" and "mlp" not in spec
    assert build_price_forecaster(old).core.members == 1


@pytest.fixture(scope="module")
def drift_store(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> Path:
    """One pipeline run of the drift kind, registered in its own store (a copy of the empty
    one: creating a store is not what these tests are about)."""
    tmp = seed_store(store_template, tmp_path_factory.mktemp("drift"))
    ran = run_local_pipeline(
        tmp,
        SEARCH_PATH,
        "model=drift",
        f"registry.model_name={DRIFT_MODEL}",
        "pipeline.refit=false",
        "fit.naive_fallback=false",
        *PIPELINE_FAST,
        *LENIENT_GATE,
    )
    assert ran.value["registered"], ran.value["message"]
    return tmp


def test_the_drift_kind_is_registered_with_its_code_and_reloads_identically(
    drift_store: Path, tmp_path: Path
) -> None:
    registry = ModelRegistry(f"sqlite:///{drift_store}/mlruns.db", DRIFT_MODEL)
    model = open_version(registry, registry.resolve(version=1), tmp_path)
    code = model.folder / "code"
    assert (code / "tests" / "model_kinds" / "drift.py").is_file()
    assert not (code / "stockcast" / "models" / "kinds" / "mlp.py").exists()
    spec = json.loads((model.folder / "artifacts" / "spec.json").read_text())
    assert spec["kind"] == DRIFT and spec["network"] == {}
    windows = 100 + np.cumsum(np.ones((3, model.previous_time_window)), axis=1)
    point, bands = model.forecast(windows)
    again, _ = open_version(registry, registry.resolve(version=1), tmp_path / "again").forecast(
        windows
    )
    np.testing.assert_array_equal(point, again)
    # The learned drift: one change from the last price per step, the same for windows of the same
    # spread, and not the naive forecast.
    change = point - windows[:, -1:]
    np.testing.assert_allclose(change, np.broadcast_to(change[:1], change.shape), rtol=1e-5)
    assert np.abs(change).max() > 0
    assert set(bands) == {"80", "95"}


def test_the_drift_kind_predicts(drift_store: Path, tmp_path: Path) -> None:
    values = [100.0 + i for i in range(30)]
    run_task(
        run_predict,
        "predict",
        [
            *isolated_overrides(drift_store),
            f"model.name={DRIFT_MODEL}",
            "input=values",
            f"input.values={values}",
        ],
        tmp_path,
    )
    out = json.loads((tmp_path / "forecast.json").read_text())
    assert out["model"]["name"] == DRIFT_MODEL and len(out["forecast"]) == 5


@pytest.fixture
def served(drift_store: Path, tmp_path: Path) -> Iterator[str]:
    """The verified scoring app of version 1, on a free local port, in this process."""
    import socket

    import uvicorn

    registry = ModelRegistry(f"sqlite:///{drift_store}/mlruns.db", DRIFT_MODEL)
    model = open_version(registry, registry.resolve(version=1), tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_app(model, Limits(10, 100_000)), port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_drift_kind_is_served(served: str) -> None:
    payload = {"inputs": [[100.0 + i for i in range(10)]]}
    request = urllib.request.Request(
        f"{served}/invocations", json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    row = answer["predictions"][0]
    assert set(row) >= {"forecast_1", "lower_80_1", "upper_95_5"}
