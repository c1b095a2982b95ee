"""The typed schema every composed config is validated against, once, when a task starts.

Pydantic rather than Hydra structured configs: the checks here are ranges, choices and
cross-field rules (split fractions summing to 1, `max_steps` of -1 or at least 1) with a sentence
a user can act on, which dataclass type checks cannot express. Hydra still composes the YAML and
refuses `key=...` for a key the config lacks; `+key=...` adds one, and every section here names
the keys it may hold, so a key nothing reads is refused too (with the nearest name, in
`unnamed_keys.py`). This module judges the values, before any data is read.

Each constrained field says in words what it must be (`description`); an error becomes
`<key> is <value>; it must be <description>.` (`refusals.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError
from pydantic import BaseModel, ValidationError, create_model

from stockcast.config.coverage_gate import refuse_a_coverage_gate_without_bands
from stockcast.config.data_schema import DATA_SOURCES, DataCommon
from stockcast.config.mistakes import deletes_what_is_needed, source_apart_from_its_config
from stockcast.config.mixed_precision import refuse_clipping_a_fused_mixed_precision_step
from stockcast.config.overrides import as_typed, override_key
from stockcast.config.refusals import refusal_sentence
from stockcast.config.schemas import SCHEMAS
from stockcast.config.unnamed_keys import (
    chosen_config,
    config_name_and_overrides,
    refuse_a_group_not_composed,
    refuse_another_kinds_key,
    refuse_unknown_key,
)
from stockcast.config.unresolvable import refuse_unresolvable, unresolved_error
from stockcast.errors import ConfigError
from stockcast.fields import Section, config_fields, model_of
from stockcast.models.kind import model_kind
from stockcast.models.settings import ModelSettings


def schema_for(cfg: DictConfig | Mapping[str, Any]) -> type[Section]:
    """The schema of the config composed, by its name (`hydra.job.config_name`), where that
    config's own section is there; else by the first key only one config has. By key alone,
    `src/train.py +input.path=x` was judged as a predict config ("model.name is not set"). The
    section is asked for too: a pipeline step composed in-process under a running replay is
    the pipeline config, whatever the app's name."""
    _refuse_a_deleted_section(cfg)
    name, _ = config_name_and_overrides(cfg)
    for key, schema, known in SCHEMAS:
        if known == name and key in cfg:
            return schema
    for key, schema, _ in SCHEMAS:
        if key in cfg:
            return schema
    raise ConfigError("the config is neither a train, pipeline, replay, predict nor serve config.")


def _refuse_a_deleted_section(cfg: DictConfig | Mapping[str, Any]) -> None:
    """`~gate` on the command line: without the section only its config has, the config was
    judged as another one (the pipeline's as the train config: "pipeline is not a setting of
    the train config; remove it"), whose advice cannot work. The overrides are read as typed:
    iterating Hydra's list resolved `tags=[${nope}]` there, a traceback before the schema could
    name the key that cannot be resolved."""
    if not HydraConfig.initialized():
        return
    overrides = as_typed(HydraConfig.get().overrides.task)
    deleted = {override_key(o) for o in overrides if o.startswith("~")}
    for key, _, _ in SCHEMAS:
        if key in deleted and key not in cfg:
            raise ConfigError(deletes_what_is_needed(key))


@functools.cache
def with_model_kind(schema: type[Section], settings: type[ModelSettings]) -> type[Section]:
    """`schema` whose `model` section is the chosen kind's settings (a discriminated union on
    `model.kind`, resolved before validating so errors name the kind's own keys)."""
    return create_model(schema.__name__, __base__=schema, model=(settings, ...))


def validate_config(
    cfg: DictConfig, sections: Iterable[str] = (), *, on_another_machine: bool = False
) -> DictConfig:
    """Refuse the first invalid value or unknown key with one sentence; whole numbers written
    as floats are stored as ints, the config is otherwise unchanged.

    `sections` are top-level sections a task reads beyond the shared schema (a step added to the
    table brings its own), accepted as they are. `on_another_machine`: the config is checked
    here for a run elsewhere (a cloud node), whose environment sets variables this one lacks.
    """
    base = schema_for(cfg)
    refuse_a_group_not_composed(base, cfg, frozenset(sections))
    schema = base
    if "model" in base.model_fields and model_of(base.model_fields["model"].annotation) is (
        ModelSettings
    ):
        kind = OmegaConf.select(cfg, "model.kind")
        if kind is None:
            raise ConfigError("model.kind is not set; choose a model kind (model=<kind>).")
        schema = with_model_kind(base, model_kind(str(kind)).settings)
    _refuse_a_source_apart_from_its_config(cfg)
    try:
        validated = schema.model_validate(_named_values(schema, cfg))
    except ValidationError as err:
        raise ConfigError(refusal_sentence(schema, err.errors()[0])) from None
    except InterpolationResolutionError as err:
        # e.g. registry=azureml reads ${stockcast_env:MLFLOW_TRACKING_URI}, unset on a laptop
        raise unresolved_error(err) from None
    refuse_unresolvable(cfg, unset_variables_ok=on_another_machine)
    refuse_another_kinds_key(schema, cfg)
    refuse_unknown_key(base, schema, cfg, "", frozenset(sections))
    _store_read_values(validated, cfg)
    refuse_clipping_a_fused_mixed_precision_step(cfg)
    refuse_a_coverage_gate_without_bands(cfg)
    return cfg


def _refuse_a_source_apart_from_its_config(cfg: DictConfig) -> None:
    """`data.source=market` over the settings of `data=gbm`: one sentence saying to choose the
    source's config, before the schema refuses its settings one at a time (a market's
    `data.num_series` "not set", a seasonal market's `data.season_length` "None")."""
    source = OmegaConf.select(cfg, "data.source")
    chosen = chosen_config(cfg, "data")
    if chosen in DATA_SOURCES and source in DATA_SOURCES and source != chosen:
        raise ConfigError(source_apart_from_its_config(str(source), chosen))


def _store_read_values(model: BaseModel, node: DictConfig) -> None:
    """Put what the schema read back into the config where the code reading it needs that, not
    what Hydra parsed: the integers `2.0` or `1e3` were read as (Lightning's max_epochs, array
    shapes), and the booleans words were (`monitor.rollback=no` is false, where the text 'no'
    read as a condition is true). Values set by interpolation follow their source."""
    for name, field in type(model).model_fields.items():
        key = field.alias or name
        if key not in node or OmegaConf.is_interpolation(node, key):
            continue
        value, held = getattr(model, name), node[key]
        if isinstance(value, BaseModel) and isinstance(held, DictConfig):
            _store_read_values(value, held)
        elif _read_as_whole(value, held) or (isinstance(value, bool) and isinstance(held, str)):
            node[key] = value


def _read_as_whole(value: Any, held: Any) -> bool:
    """Whether the schema read a float (or a list holding floats) as whole numbers."""
    if isinstance(value, int) and not isinstance(value, bool):
        return isinstance(held, float)
    if isinstance(value, list) and OmegaConf.is_list(held):
        return any(isinstance(item, float) for item in held) and all(
            isinstance(item, int) for item in value
        )
    return False


def _named_values(model: type[BaseModel], node: DictConfig) -> dict[str, Any]:
    """Only the values the schema names, resolved one by one: other keys may interpolate things
    that exist only inside a running Hydra app (`${hydra:runtime.output_dir}`)."""
    values: dict[str, Any] = {}
    for name, field in config_fields(model).items():
        if name not in node:  # also a mandatory `???` value: pydantic reports it as missing
            continue
        value = node[name]
        held = model_of(field.annotation)
        if name == "data" and isinstance(value, DictConfig):
            held = DATA_SOURCES.get(str(value.get("source")), DataCommon)
        if isinstance(value, DictConfig) and held is not None:
            values[name] = _named_values(held, value)
        elif isinstance(value, DictConfig) or OmegaConf.is_list(value):
            values[name] = OmegaConf.to_container(value, resolve=True)
        else:
            values[name] = value
    return values
