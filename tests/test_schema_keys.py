"""The config schema over keys, groups and sections: one the composed config does not read is
refused naming the one meant, or what to choose instead, before any work is done."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockcast.config.schema import validate_config
from stockcast.errors import ConfigError
from tests.conftest import AS_OF, hydra_conf, hydra_held, isolated_overrides, run_task


@pytest.mark.parametrize(
    ("config_name", "override", "key", "meant"),
    [
        ("train", "+model.hiden_sizes=[1]", "model.hiden_sizes", "model.hidden_sizes"),
        ("train", "+sede=3", "sede", "seed"),
        ("train", "+trainer.max_epoch=3", "trainer.max_epoch", "trainer.max_epochs"),
        (
            "train",
            "+callbacks.early_stoping.patience=3",
            "callbacks.early_stoping",
            "callbacks.early_stopping",
        ),
        ("pipeline", "+data.lenght=3", "data.lenght", "data.length"),
        (
            "pipeline",
            "+registry.champion_alais=x",
            "registry.champion_alais",
            "registry.champion_alias",
        ),
        ("predict", "+input.pth=x.csv", "input.pth", "input.path"),
        ("serve", "+serve.prot=80", "serve.prot", "serve.port"),
        # A setting given in the wrong section: the same name in the one that holds it.
        (
            "train",
            "+model.previous_time_window=24",
            "model.previous_time_window",
            "data.previous_time_window",
        ),
        ("train", "+trainer.lr=0.1", "trainer.lr", "optim.lr"),
        ("pipeline", "+lr=0.1", "lr", "optim.lr"),
        # The top-level seed, not data.seed (which follows it); the very name elsewhere before
        # a near one in the key's own section (model.combination).
        ("train", "+trainer.seed=3", "trainer.seed", "seed"),
        ("train", "+model.normalization=none", "model.normalization", "data.normalization"),
    ],
)
def test_a_key_nothing_reads_is_refused_naming_the_nearest(
    make_cfg, config_name: str, override: str, key: str, meant: str
) -> None:
    """Hydra's hint for a misspelt key is to add it with `+`, which used to train with the typo
    ignored: the schema knows every key a section may hold."""
    with pytest.raises(ConfigError) as caught:
        validate_config(make_cfg(override, config_name=config_name))
    assert str(caught.value) == (
        f"{key} is not a setting of the {config_name} config; did you mean {meant}?"
    )


@pytest.mark.parametrize("override", ["register.alias=staging", "+register.alias=staging"])
def test_a_moved_setting_names_where_it_is_now(make_cfg, override: str) -> None:
    """A command or schedule written before `register.alias` became `registry.champion_alias`
    is told the new name, whether Hydra or the schema refuses the old one."""
    with pytest.raises(ConfigError) as caught:
        validate_config(make_cfg(override, config_name="pipeline"))
    assert str(caught.value).endswith(
        "register.alias is now registry.champion_alias (one setting the register step, the "
        "monitor, predict, serve and deploy all read); set that instead."
    )


def test_every_reader_of_the_champion_alias_follows_one_setting(make_cfg) -> None:
    moved = "registry.champion_alias=staging"
    for config_name in ("predict", "serve"):
        assert make_cfg(moved, config_name=config_name).model.default_alias == "staging"
    pipeline = make_cfg(moved, "+azureml=default", config_name="pipeline")
    assert pipeline.registry.champion_alias == "staging"
    assert pipeline.azureml.endpoint.model_version == "staging"


def test_a_key_with_no_near_name_lists_what_the_section_holds(make_cfg) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(make_cfg("+optim.qqq=1"))
    assert str(caught.value) == (
        "optim.qqq is not a setting of the train config; remove it (optim holds lr, "
        "method_lr_scale, monitor, optimizer, scheduler and weight_decay)."
    )


@pytest.mark.parametrize(
    ("override", "meant"),
    [("+experimen=mlp_w10", "experiment"), ("+hparams_serch=mlp", "hparams_search")],
)
def test_a_misspelt_group_added_with_a_plus_names_the_group(
    make_cfg, override: str, meant: str
) -> None:
    """`+experimen=mlp_w10` composes (a new key), so the schema refuses it: a group whose
    settings go to the top level is no name beside it, and "remove it" hid the group meant."""
    with pytest.raises(ConfigError) as caught:
        validate_config(make_cfg(override))
    key = override[1:].partition("=")[0]
    assert str(caught.value) == f"{key} is not a setting of the train config; did you mean {meant}?"


def test_a_misspelt_group_of_a_searched_folder_names_the_group(tmp_path: Path) -> None:
    """A group of a folder the command searched (`hydra.searchpath`) is meant as configs/' are."""
    (tmp_path / "mine" / "my_group").mkdir(parents=True)
    (tmp_path / "mine" / "my_group" / "one.yaml").write_text("x: 1\n")
    overrides = [*isolated_overrides(tmp_path), AS_OF, f"hydra.searchpath=[file://{tmp_path}/mine]"]
    with pytest.raises(ConfigError) as caught:
        run_task(lambda cfg: None, "train", [*overrides, "+my_grup=one"], tmp_path)
    assert (
        str(caught.value) == "my_grup is not a setting of the train config; did you mean my_group?"
    )


def test_another_model_kind_trains_on_an_experiments_data(make_cfg) -> None:
    """`make pipeline ARGS="model=theta"` (the README's way to register a new kind) ran
    experiment=mlp_w10, whose model.hidden_sizes then made model=theta refused as "remove it",
    a key the user never wrote; an experiment that sets another kind's key says whose it is."""
    cfg = validate_config(make_cfg("experiment=mlp_w10", "model=theta", config_name="pipeline"))
    assert cfg.model.kind == "theta" and cfg.registry.model_name == "pipeline_stock_predictor"
    with pytest.raises(ConfigError) as caught:
        validate_config(make_cfg("experiment=mlp_w30", "model=theta", config_name="pipeline"))
    assert str(caught.value).startswith(
        "model.hidden_sizes is a setting of model=mlp, not of model=theta"
    )


def test_a_kind_set_over_another_kinds_config_says_to_choose_its_config(tmp_path: Path) -> None:
    """`model.kind=theta` keeps the MLP config's keys: the advice is to choose model=theta, not
    to drop a `model=theta` the user never typed (the command line's config keeps no `hydra`
    node, so the choices are read from the running app, as `run_task` sets it)."""
    overrides = [*isolated_overrides(tmp_path), AS_OF]
    with pytest.raises(ConfigError) as caught:
        run_task(lambda cfg: None, "train", [*overrides, "model.kind=theta"], tmp_path)
    assert str(caught.value) == (
        "model.kind=theta keeps the settings of the model=mlp config (model.hidden_sizes, which "
        "theta does not have); choose the kind's own config with model=theta instead of setting "
        "model.kind."
    )
    with pytest.raises(ConfigError) as caught:
        run_task(
            lambda cfg: None, "train", [*overrides, "experiment=mlp_w30", "model=theta"], tmp_path
        )
    assert "(experiment=mlp_w30 sets it)" in str(caught.value)


@pytest.mark.parametrize(
    ("given", "chosen"),
    [
        (["data.source=market"], "the data=gbm config"),
        (["data.source=seasonal"], "the data=gbm config"),
        (["experiment=market_global", "data.source=gbm"], "the data=market config"),
        # A setting of the source's own config, which the one chosen lacks: refused composing.
        (["data.source=market", "data.num_series=5"], "the data config chosen"),
    ],
)
def test_a_source_set_over_another_sources_config_says_to_choose_its_config(
    tmp_path: Path, given: list[str], chosen: str
) -> None:
    """`data.source=market` keeps the walk's settings: they were refused one at a time with
    advice that could not work (`data.num_series is not set; ... data.num_series=...`, then
    `data.num_series is not a setting`), or `data.season_length is None`."""
    source = next(o.partition("=")[2] for o in given if o.startswith("data.source="))
    overrides = [*isolated_overrides(tmp_path), AS_OF, *given]
    with pytest.raises(ConfigError) as caught:
        run_task(lambda cfg: None, "train", overrides, tmp_path)
    # Refused composing, the sentence follows what was being composed (the command line's is
    # the sentence alone).
    assert str(caught.value).endswith(
        f"data.source={source} keeps the settings of {chosen}; choose the source's own config "
        f"with data={source} instead of setting data.source."
    )


def test_a_source_set_with_its_own_config_or_a_typo_beside_it_is_not_blamed(
    tmp_path: Path,
) -> None:
    """The source's own config chosen too is no mistake, and a misspelt key beside a source set
    apart is the misspelling's."""
    overrides = [*isolated_overrides(tmp_path), AS_OF]
    run_task(lambda cfg: None, "train", [*overrides, "data=market", "data.source=market"], tmp_path)
    with pytest.raises(ConfigError, match=r"data.lenght is not a setting .* data.length\?"):
        run_task(
            lambda cfg: None, "train", [*overrides, "data.source=market", "data.lenght=3"], tmp_path
        )


@pytest.mark.parametrize("exported", [None, ""])
def test_an_unset_tracking_uri_says_how_to_set_it(
    monkeypatch: pytest.MonkeyPatch, exported: str | None
) -> None:
    """registry=azureml on a laptop reads the workspace's store from the environment; an
    exported empty variable is as unset."""
    from stockcast.config.compose import compose_config

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if exported is not None:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", exported)
    with pytest.raises(ConfigError) as refused:
        validate_config(compose_config("predict", ["registry=azureml"]))
    assert str(refused.value) == (
        "registry.tracking_uri cannot be resolved (Environment variable 'MLFLOW_TRACKING_URI' "
        "not found); set it, or what it refers to (the Azure ML workspace's store: export "
        "MLFLOW_TRACKING_URI=$(make -s tracking-uri))."
    )


@pytest.mark.parametrize(
    ("override", "key", "detail"),
    [
        ("tags=[${nope}]", "tags[0]", "Interpolation key 'nope' not found"),
        (
            "callbacks.early_stopping.monitor=${oops}",
            "callbacks.early_stopping.monitor",
            "Interpolation key 'oops' not found",
        ),
        (
            "+logger.x=${stockcast_env:STOCKCAST_UNSET_VARIABLE}",
            "logger.x",
            "Environment variable 'STOCKCAST_UNSET_VARIABLE' not found",
        ),
    ],
)
def test_an_interpolation_the_schema_does_not_judge_is_resolved_before_any_work(
    make_cfg, override: str, key: str, detail: str
) -> None:
    """A key the schema accepts as it is (tags, a callback's arguments) was resolved only when
    the task read it: an OmegaConf traceback once the data was prepared. `${hydra:...}` values,
    bound by the running app, are left to it."""
    cfg = make_cfg(override)
    with pytest.raises(ConfigError) as refused:
        validate_config(cfg)
    assert (
        str(refused.value) == f"{key} cannot be resolved ({detail}); set it, or what it refers to."
    )


def test_an_unresolvable_override_is_named_where_hydra_holds_the_overrides(make_cfg) -> None:
    """In a run Hydra holds the command line's overrides, which the deleted-section check read
    by iterating them: `tags=[${nope}]` was resolved there, an OmegaConf traceback (exit 1)
    instead of the sentence naming the key."""
    cfg = make_cfg("tags=[${nope}]")
    with hydra_held(hydra_conf(["tags=[${nope}]"])), pytest.raises(ConfigError) as refused:
        validate_config(cfg)
    assert str(refused.value) == (
        "tags[0] cannot be resolved (Interpolation key 'nope' not found); set it, or what it "
        "refers to."
    )


def test_an_experiment_file_without_its_package_header_says_to_add_it(tmp_path: Path) -> None:
    """An experiment of one's own written without `# @package _global_` puts its settings under
    `experiment.`, which the schema would refuse as an unknown key the user never typed."""
    import shutil

    from stockcast.config.compose import CONFIG_DIR, compose_config

    config_dir = shutil.copytree(CONFIG_DIR, tmp_path / "configs")
    (config_dir / "experiment" / "mine.yaml").write_text("model:\n  hidden_sizes: [8]\n")
    cfg = compose_config(
        "train", ["experiment=mine"], config_dir=config_dir, return_hydra_config=True
    )
    with pytest.raises(ConfigError) as refused:
        validate_config(cfg)
    assert str(refused.value) == (
        "experiment holds settings of its config file instead of the top level: add '# @package "
        "_global_' as the first line of experiment/mine.yaml, as the built-in experiment configs "
        "have it."
    )


@pytest.mark.parametrize(
    ("config_name", "section"),
    [("pipeline", "gate"), ("train", "trainer"), ("predict", "input"), ("replay", "replay")],
)
def test_a_deleted_section_is_named_not_taken_for_another_config(
    make_cfg, config_name: str, section: str
) -> None:
    """`~gate` on the pipeline: the config lacked the section that says which config it is, and
    was judged as the train config ("pipeline is not a setting of the train config; remove
    it"); `~trainer` as no config at all."""
    cfg = make_cfg(f"~{section}", config_name=config_name)
    with hydra_held(hydra_conf([f"~{section}"])), pytest.raises(ConfigError) as refused:
        validate_config(cfg)
    assert str(refused.value) == f"~{section} deletes {section}, which this command needs; drop it."


@pytest.mark.parametrize(
    ("chosen", "instead"),
    [
        ("gbm", "one of input=csv, synthetic, test_split or values"),
        ("seasonal", "one of input=csv, synthetic, test_split or values"),
        ("csv", "input=csv"),
    ],
)
def test_a_data_config_added_to_predict_names_its_input_instead(
    tmp_path: Path, chosen: str, instead: str
) -> None:
    """`scripts/predict.py +data=gbm`: the data config's `${seed}` (a key predict lacks) was
    refused as "data.seed cannot be resolved", naming no way out; predict reads its series
    from input, as it says of `data=gbm`, and no work is done."""
    overrides = [*isolated_overrides(tmp_path), f"+data={chosen}"]

    def never(cfg) -> None:
        raise AssertionError("the task ran")

    with pytest.raises(ConfigError) as caught:
        run_task(never, "predict", overrides, tmp_path)
    assert str(caught.value) == (
        f"data={chosen} chooses a config the predict config does not read: it reads its series "
        f"from input, not data; choose {instead} instead."
    )


@pytest.mark.parametrize(
    ("config_name", "added", "sentence"),
    [
        ("serve", "data=gbm", "it composes no data config; remove it."),
        ("serve", "data=csv", "it composes no data config; remove it."),
        ("serve", "input=synthetic", "it composes no input config; remove it."),
        ("predict", "model=mlp", "it composes no model config; remove it."),
        ("predict", "trainer=cpu", "it composes no trainer config; remove it."),
        ("predict", "callbacks=default", "it composes no callbacks config; remove it."),
        ("train", "input=synthetic", "it composes no input config; remove it."),
        ("pipeline", "input=csv", "it composes no input config; remove it."),
        ("replay", "input=values", "it composes no input config; remove it."),
    ],
)
def test_a_group_added_to_a_config_that_does_not_compose_it_is_named(
    tmp_path: Path, config_name: str, added: str, sentence: str
) -> None:
    """`scripts/serve.py +data=gbm` stopped at "data.seed cannot be resolved", `+data=csv` said
    to add a header to data/csv.yaml, `src/train.py +input=synthetic` was judged as a predict
    config: each command says, as for `data=csv` without the '+', before any work is done."""
    overrides = [*isolated_overrides(tmp_path), f"+{added}"]

    def never(cfg) -> None:
        raise AssertionError("the task ran")

    with pytest.raises(ConfigError) as caught:
        run_task(never, config_name, overrides, tmp_path)
    assert str(caught.value) == (
        f"{added} chooses a config the {config_name} config does not read: {sentence}"
    )


def test_a_group_of_ones_own_added_without_its_header_says_to_add_it(tmp_path: Path) -> None:
    """A group only a folder of one's own holds (experiment-style: its files set top-level keys)
    is no group the command was meant to compose: its file lacking the header is what is said."""
    (tmp_path / "mine" / "my_group").mkdir(parents=True)
    (tmp_path / "mine" / "my_group" / "one.yaml").write_text("seed: 1\n")
    searched = f"hydra.searchpath=[file://{tmp_path}/mine]"
    overrides = [*isolated_overrides(tmp_path), searched, "+my_group=one"]
    with pytest.raises(ConfigError) as caught:
        run_task(lambda cfg: None, "predict", overrides, tmp_path)
    assert str(caught.value) == (
        "my_group holds settings of its config file instead of the top level: add '# @package "
        "_global_' as the first line of my_group/one.yaml, as the built-in my_group configs have "
        "it."
    )


def test_the_azureml_group_added_to_the_pipeline_config_is_accepted(tmp_path: Path) -> None:
    """scripts/submit.py adds `+azureml=default` to a config that does not compose it: the
    schema takes that section whole, so the group is no mistake there."""
    overrides = [*isolated_overrides(tmp_path), AS_OF, "+azureml=default"]
    ran = run_task(lambda cfg: "azureml" in cfg, "pipeline", overrides, tmp_path)
    assert ran.value is True


@pytest.mark.parametrize(
    ("config_name", "added", "sentence"),
    [
        ("train", "+input.path=x.csv", "input.path is not a setting of the train config, which "),
        ("pipeline", "+input.path=x", "input.path is not a setting of the pipeline config, which "),
        ("replay", "+input.kind=csv", "input.kind is not a setting of the replay config, which "),
        ("train", "+serve.port=80", "serve is not a setting of the train config; "),
        ("pipeline", "+serve.port=80", "serve is not a setting of the pipeline config; "),
        ("predict", "+serve.port=80", "serve is not a setting of the predict config; "),
        ("train", "+gate.max_mase=1", "gate is not a setting of the train config; "),
        ("train", "+replay.days=3", "replay is not a setting of the train config; "),
    ],
)
def test_a_section_of_another_command_is_judged_by_the_config_composed(
    tmp_path: Path, config_name: str, added: str, sentence: str
) -> None:
    """`src/train.py +input.path=x.csv` was judged as a predict config, by the first key of
    another command's found in it: "model.name is not set", nothing to do with the mistake.
    The config is judged as the one composed, and the key it does not read is named as Hydra
    names it without the '+' (a config group's setting: that the config composes no such group)."""
    pinned = [AS_OF] if config_name in ("train", "pipeline") else []
    overrides = [*isolated_overrides(tmp_path), *pinned, added]

    def never(cfg) -> None:
        raise AssertionError("the task ran")

    with pytest.raises(ConfigError) as caught:
        run_task(never, config_name, overrides, tmp_path)
    refused = str(caught.value)
    assert refused.startswith(sentence)
    group = added.removeprefix("+").partition(".")[0]
    assert ("composes no input config; remove it" in refused) == (group == "input")
    if group == "input":  # the keys the config holds, as Hydra's refusal lists them
        assert "hydra" not in refused.partition("(")[2]


@pytest.mark.parametrize(
    ("config_name", "added", "listed"),
    [
        (
            "train",
            "+replay.days=3",
            "callbacks, data, fit, logger, model, num_threads, optim, optimized_metric, paths, "
            "registry, seed, tags and 4 more",
        ),
        (
            "predict",
            "+serve.port=80",
            "backtest, check_model_requirements, guard, input, mode, model, next_time_window, "
            "paths, plot, previous_time_window, print_decimals, print_series and 4 more",
        ),
        (
            "serve",
            "+qqq=1",
            "check_model_requirements, guard, model, paths, registry, "
            "registry_connection, serve and task_name",
        ),
    ],
)
def test_a_key_nothing_reads_lists_the_keys_the_composed_config_holds(
    tmp_path: Path, config_name: str, added: str, listed: str
) -> None:
    """The list ended with every key the schema accepts, `azureml` and `hydra` among them, which
    the composed config does not hold: what Hydra's refusal of the same key lists, and no more."""
    pinned = [AS_OF] if config_name in ("train", "pipeline") else []
    overrides = [*isolated_overrides(tmp_path), *pinned, added]
    with pytest.raises(ConfigError) as caught:
        run_task(lambda cfg: None, config_name, overrides, tmp_path)
    assert str(caught.value).endswith(f"; remove it (its top level holds {listed}).")


def test_a_section_lists_the_keys_it_holds_not_every_argument_it_takes(make_cfg) -> None:
    """trainer takes Lightning arguments its config leaves unset (added with a '+'): it does not
    hold them, and the list of what it holds names the ones it does, as Hydra's list does."""
    with pytest.raises(ConfigError) as caught:
        validate_config(make_cfg("+trainer.qqq=1"))
    assert str(caught.value) == (
        "trainer.qqq is not a setting of the train config; remove it (trainer holds _target_, "
        "accelerator, default_root_dir, deterministic, devices, enable_model_summary, "
        "enable_progress_bar, gradient_clip_algorithm, gradient_clip_val, log_every_n_steps, "
        "max_epochs, max_steps and 1 more)."
    )


# What predict's window sizes are: the registered model's, which its top-level keys only check.
MODELS_WINDOW = (
    "a whole number matching the window the registered model records in its metadata (predict "
    "feeds the model exactly that many values; this setting only checks it), or left out"
)


MODELS_HORIZON = (
    "a whole number matching the horizon the registered model records in its metadata "
    "(predict forecasts exactly that many steps; this setting only checks it), or left out"
)


@pytest.mark.parametrize(
    ("override", "sentence"),
    [
        (
            "previous_time_window=auto",
            f"previous_time_window is 'auto'; it must be {MODELS_WINDOW}.",
        ),
        ("previous_time_window=0", f"previous_time_window is 0; it must be {MODELS_WINDOW}."),
        ("next_time_window=auto", f"next_time_window is 'auto'; it must be {MODELS_HORIZON}."),
        *(
            (
                f"{plus}{section}.previous_time_window=auto",
                f"{section}.previous_time_window is not a setting of the predict config; "
                f"previous_time_window is, and it must be {MODELS_WINDOW}.",
            )
            for section in ("data", "model")
            for plus in ("", "+")
        ),
        (
            "+data.next_time_window=3",
            "data.next_time_window is not a setting of the predict config; next_time_window is, "
            f"and it must be {MODELS_HORIZON}.",
        ),
    ],
)
def test_a_window_given_to_predict_is_refused_saying_it_is_the_models(
    tmp_path: Path, override: str, sentence: str
) -> None:
    """`previous_time_window=auto` was "a valid integer", `data.previous_time_window=auto` "no
    input config has a previous_time_window", `model.previous_time_window` "remove it": none
    said that predict feeds the model the window its metadata records, whatever a config says.
    Hydra refuses the keys without a '+' (naming the composition), the schema those with one."""

    def never(cfg) -> None:
        raise AssertionError("the task ran")

    with pytest.raises(ConfigError) as caught:
        run_task(never, "predict", [*isolated_overrides(tmp_path), override], tmp_path)
    assert str(caught.value).removeprefix("cannot compose the config: ") == sentence
