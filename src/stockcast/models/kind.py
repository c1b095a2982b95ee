"""The seam between stockcast and a model kind: what the rest of the code needs from one.

A kind is one module defining `KIND` plus one config file `configs/model/<kind>.yaml`. It brings
the network core that maps scaled windows to scaled forecasts and the schema of its config keys;
everything around the core (window scaling, ensemble members, the anchor on the last price and
the naive fallback, member weights, intervals, training, export, serving, the registry) is the
same for every kind.
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from stockcast.errors import ConfigError
from stockcast.fields import config_fields
from stockcast.models.settings import ModelSettings

if TYPE_CHECKING:  # the schema reads kinds without importing torch
    from torch import nn

BUILTIN_PACKAGE = "stockcast.models.kinds"


class KindDefinitionError(ConfigError):
    """A kind's module was found but its KIND is wrong: the module's mistake, not the config's
    (an ensemble names it as it is, rather than as an unknown kind)."""


# The LightningModule every kind trains with unless it names its own ("module:Class").
DEFAULT_TRAINING_MODULE = "stockcast.training.module:Forecaster"


def seasonal_core_sizes(
    network: Mapping[str, Any], window: int, member_inputs: Sequence[int], outputs: int
) -> dict[str, int]:
    """The sizes a seasonal kind's core is built from, out of `build_core`'s arguments: its
    members, the window it reads, the horizon and the data's season length (1: none), which
    `data_keys=("season_length",)` put into `network`."""
    return {
        "members": len(member_inputs),
        "window": window,
        "horizon": outputs,
        "season": int(network.get("season_length") or 1),
    }


@dataclass(frozen=True)
class ModelKind:
    """What a model kind provides.

    `build_core(network, window, member_inputs, outputs)` returns an nn.Module mapping features
    shaped (members, batch, max(member_inputs)) to (members, batch, outputs), with a `members`
    property; each member's inputs are the `window` values, then the level inputs for a member
    that takes them (so where every member takes them, no member's inputs are the window),
    and `zero_outputs(columns)` (zeroes those outputs: the naive fallback, and the start of an
    anchored model unless the core has `start_anchored()`, which then sets its start: a
    statistical method starts from its own forecast; a core with `fit_to_series(series)` is fitted
    on each series' values the network trains on as every fit starts, as the ets kind fits its
    smoothing by likelihood). `network` is the spec's kind block: the
    values of `network_keys` from the `model` config and of `data_keys` from the prepared data's
    meta.json (the season length, say). `architecture_keys` are the ones whose change makes saved
    weights unusable (a warm start is refused): by default all of them, network and data keys
    alike, and fewer where a key only shapes training. `settings` is the pydantic schema of the
    kind's `model` section. A core may hold several models per scaled view of the window
    (`members_per_scaler`): the network then has that many members per normalization, weighed
    against each other on validation like any members.
    """

    name: str
    settings: type[Any]
    build_core: Callable[[Mapping[str, Any], int, Sequence[int], int], nn.Module]
    network_keys: tuple[str, ...]
    architecture_keys: tuple[str, ...] | None = None
    # Saved weights of an older layout of this kind's core -> today's (identity by default).
    upgrade_state: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda state: state)
    training_module: str = DEFAULT_TRAINING_MODULE
    data_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.architecture_keys is None:
            object.__setattr__(self, "architecture_keys", self.network_keys + self.data_keys)

    def members_per_scaler(self, network: Mapping[str, Any]) -> int:
        return 1

    def state_in_todays_layout(
        self, network: Mapping[str, Any], state: dict[str, Any]
    ) -> dict[str, Any]:
        """Saved weights of a network of this kind (`network`: its spec's block) in today's
        layout: its `upgrade_state`'s (an ensemble's runs each candidate's kind's on its part)."""
        return self.upgrade_state(state)

    def model_names(self, network: Mapping[str, Any], window: int) -> list[str]:
        """A name for each model the core holds per scaled view (reports list the members)."""
        return [f"{self.name} on {window} values"]

    def kinds_used(self, network: Mapping[str, Any]) -> list[str]:
        """The kinds whose modules a network of this kind imports (a served model ships them)."""
        return [self.name]

    def network_spec(
        self, model_cfg: Mapping[str, Any], data_meta: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Its settings' defaults fill a network key the config leaves out (the schema accepts
        that, most often in an ensemble's candidate), which was a KeyError as training began; a
        data key the prepared data lacks is one sentence, where it was a KeyError too."""
        absent = [key for key in self.data_keys if key not in data_meta]
        if absent:
            raise KindDefinitionError(
                f"model.kind={self.name}: its KIND's data_keys name {', '.join(absent)}, which "
                f"the prepared data's meta.json lacks (it holds {', '.join(sorted(data_meta))}); "
                "name entries the prepare step writes there in data_keys, or run prepare again "
                "where the folder predates them."
            )
        defaults = {
            field.alias or name: field.get_default(call_default_factory=True)
            for name, field in self.settings.model_fields.items()
            if not field.is_required()
        }
        values = defaults | dict(model_cfg)
        return {key: values[key] for key in self.network_keys} | {
            key: data_meta[key] for key in self.data_keys
        }

    def architecture_differences(
        self, ours: Mapping[str, Any], theirs: Mapping[str, Any], prefix: str = "model."
    ) -> list[str]:
        """Where saved network spec `theirs` differs from `ours` in `architecture_keys`, one
        phrase per key (`prefix` names where the key is set; a data key is the data's, such as
        data.season_length, not a model setting): what refuses a warm start."""
        assert self.architecture_keys is not None
        return [
            f"{'data.' if key in self.data_keys else prefix}{key} is {theirs.get(key)}, "
            f"this run's {ours[key]}"
            for key in self.architecture_keys
            if ours[key] != theirs.get(key)
        ]


def kind_module_name(kind: str) -> str:
    """`mlp` -> `stockcast.models.kinds.mlp`; a dotted name is a module path already."""
    return kind if "." in kind else f"{BUILTIN_PACKAGE}.{kind}"


def builtin_kinds() -> list[str]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    return sorted(info.name for info in pkgutil.iter_modules(package.__path__))


def model_kind(kind: str) -> ModelKind:
    """The kind `model.kind` names, or one sentence listing the kinds there are."""
    name = kind_module_name(str(kind))
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name is None or not (name == err.name or name.startswith(f"{err.name}.")):
            # The kind's module exists but imports something missing.
            raise _import_failed(kind, name, err) from err
        module = None
    except Exception as err:  # the module's own code failed: its author's mistake to fix
        raise _import_failed(kind, name, err) from err
    found = getattr(module, "KIND", None)
    if module is not None and not isinstance(found, ModelKind):
        raise KindDefinitionError(
            f"model.kind is {kind!r}: the module {name} was found but defines no KIND (a "
            "stockcast.models.kind.ModelKind, as the built-in kinds in "
            f"{BUILTIN_PACKAGE} do); define one."
        )
    if not isinstance(found, ModelKind):
        raise ConfigError(
            f"model.kind is {kind!r}; choose one of {builtin_kinds()} (model=<kind>), or name "
            f"{module_advice(str(kind))}."
        )
    named = name.removeprefix(f"{BUILTIN_PACKAGE}.")
    settings = found.settings
    if not (isinstance(settings, type) and issubclass(settings, ModelSettings)):
        raise KindDefinitionError(
            f"{name}'s KIND settings are not a subclass of stockcast.models.settings."
            "ModelSettings, which holds the keys every kind shares; subclass it, with kind: "
            f"Literal[{named!r}] and the kind's own keys."
        )
    accepted = get_args(settings.model_fields["kind"].annotation)
    if not accepted:
        # The schema picks a kind's settings by this Literal (MethodSettings names the kind by it).
        raise KindDefinitionError(
            f"{name}'s settings leave kind a plain string; declare kind: Literal[{named!r}] in "
            "them."
        )
    outside = "." in str(kind) and not name.startswith(f"{BUILTIN_PACKAGE}.")
    if outside and str(kind) not in accepted:
        # The schema would refuse the config's kind, which is right: the module's is wrong.
        raise KindDefinitionError(
            f"{name}'s settings take model.kind {' or '.join(map(repr, accepted))}, not the "
            f"{str(kind)!r} it is chosen by; make its settings' kind Literal[{str(kind)!r}]."
        )
    unsettable = unsettable_network_keys(found)
    if unsettable:
        raise KindDefinitionError(
            f"{name}'s KIND network_keys name {', '.join(unsettable)}, which its model settings "
            "lack, so no config sets them and its network spec cannot be read; name its "
            "settings' keys (as the config spells them) in network_keys, or add those keys to "
            "its settings."
        )
    unrecorded = unrecorded_settings(found)
    if unrecorded:
        raise KindDefinitionError(
            f"{name}'s model settings {', '.join(unrecorded)} never reach its network (its KIND's "
            "network_keys leave them out), so setting or sweeping them would change nothing; "
            "add them to network_keys, or drop them from its settings."
        )
    if found.name != named:
        # Its name is what a model folder ships the kind's code by and reports its members by.
        raise KindDefinitionError(
            f"{name}'s KIND is named {found.name!r}, not {named!r}, its module's name, by which "
            f"a model folder finds and ships the kind's code; name it {named!r}."
        )
    return found


def module_advice(kind: str) -> str:
    """How to name a kind of one's own instead of `kind`, which named none: a name without a
    dot is read as a built-in kind's, so a kind in a lone top-level module cannot be named."""
    if "." in kind:
        return "a module importable here (its root on PYTHONPATH) that defines KIND"
    return (
        "a module that defines KIND by its dotted path in a package (package.module: a name "
        "without a dot is a built-in kind's)"
    )


def _import_failed(kind: str, name: str, err: Exception) -> KindDefinitionError:
    """One sentence for a kind's module that fails as it is imported (a missing package, a
    syntax error, an exception at its top level), naming where, instead of a traceback."""
    syntax = isinstance(err, SyntaxError)
    where = f"{err.filename} line {err.lineno}" if syntax else raised_at(err) or name
    missing = err.name if isinstance(err, ModuleNotFoundError) else None
    fix = f"install {missing} or fix that import" if missing else "fix the module"
    return KindDefinitionError(
        f"model.kind is {kind!r}: importing its module {name} failed at {where} "
        f"({type(err).__name__}: {err}); {fix}."
    )


def kind_code_failed(
    kind: str, hook: str, err: Exception, given: str, gets: str
) -> KindDefinitionError:
    """One sentence for a kind's own `hook` (its build_core, its upgrade_state) raising `err`
    when called `given` what it got: its author's mistake, named with where it raised and what
    the hook gets (`gets`), not a traceback from the train step, serving or a warm start."""
    where = raised_at(err)
    return KindDefinitionError(
        f"model.kind={kind}: its {hook} failed{f' at {where}' if where else ''} "
        f"({type(err).__name__}: {str(err).rstrip('.')}) {given}; fix its {hook}, which gets "
        f"{gets} (models/kind.py: ModelKind)."
    )


def raised_at(err: BaseException) -> str | None:
    """'file line N': where a kind's own code raised `err` (its deepest frame in a file), for a
    refusal to name; None where no frame is in a file."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename[:1] != "<"]
    return f"{frames[-1].filename} line {frames[-1].lineno}" if frames else None


def unrecorded_settings(kind: ModelKind) -> list[str]:
    """The keys a kind's settings add to every kind's (`ModelSettings`) that its network spec
    does not record: build_core would never see them."""
    shared = set(config_fields(ModelSettings))
    return sorted(set(config_fields(kind.settings)) - shared - set(kind.network_keys))


def unsettable_network_keys(kind: ModelKind) -> list[str]:
    """The keys a kind's `network_keys` name that its settings lack (the mirror of
    `unrecorded_settings`): no config may hold them, so its network spec would read them in
    vain, a KeyError as training began."""
    return sorted(set(kind.network_keys) - set(config_fields(kind.settings)))
