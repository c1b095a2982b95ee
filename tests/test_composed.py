"""A config composed again for the same group choices is the config a full compose gives."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from stockcast.config import composed
from stockcast.config.compose import CONFIG_DIR, compose_config
from stockcast.config.hydra_compose import compose_raw
from stockcast.config.resolvers import register_resolvers
from stockcast.errors import ConfigError


def full_compose(
    config_name: str,
    overrides: list[str],
    config_dir: Path = CONFIG_DIR,
    return_hydra_config: bool = False,
):
    """Hydra's compose, reading every file again."""
    register_resolvers()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            return compose(config_name, overrides, return_hydra_config)
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.parametrize(
    ("config_name", "overrides", "with_hydra"),
    [
        ("train", ["trainer.max_epochs=3", "seed=7"], False),
        ("train", ["experiment=auto", "data.season_length=12", "model=ensemble"], True),
        (
            "train",
            ["model=theta", "data=csv", "data.path=x.csv", "~callbacks.early_stopping"],
            False,
        ),
        (
            "train",
            ["+extra.note=kept", "data.normalization=[standard]", "++trainer.max_steps=9"],
            True,
        ),
        ("train", ["model={hidden_sizes: [4, 4]}", "experiment=mlp_w30"], False),
        ("pipeline", ["experiment=auto", "data.as_of=2024-03-01"], True),
        ("predict", ["input=csv", "input.path=prices.csv", "model.version=2"], False),
        ("train", ["++hydra={job: {chdir: true}}", "seed=2"], False),  # the node Hydra drops
        ("train", ["model=${oc.select:nothing,theta}"], True),  # an interpolated choice
    ],
)
def test_a_config_composed_twice_is_what_a_full_compose_gives(
    config_name: str, overrides: list[str], with_hydra: bool
) -> None:
    expected = OmegaConf.to_yaml(full_compose(config_name, overrides, CONFIG_DIR, with_hydra))
    # The same choices with other values first: none of them may stay in the reused tree.
    first = compose_raw(
        config_name, [*overrides, "task_name=primed"], return_hydra_config=with_hydra
    )
    first.task_name = "edited"  # a caller's edit stays in its own copy
    second = compose_raw(config_name, overrides, return_hydra_config=with_hydra)
    assert OmegaConf.to_yaml(second) == expected
    assert OmegaConf.is_struct(second) and second.task_name != "edited"


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.hiden_sizes=[3]"],  # a key no config has
        ["+seed=3"],  # appending where a value is
        ["~trainer.no_such_key"],
        ["nosuchgroup@model=theta"],
    ],
)
def test_a_refused_value_is_refused_as_a_full_compose_refuses_it(overrides: list[str]) -> None:
    compose_raw("train", [])  # the choices are composed already
    with pytest.raises(ConfigCompositionException) as full:
        full_compose("train", overrides)
    with pytest.raises(ConfigCompositionException) as reused:
        compose_raw("train", overrides)
    assert str(reused.value) == str(full.value)


def test_an_edited_config_file_is_read_again(tmp_path: Path) -> None:
    config_dir = shutil.copytree(CONFIG_DIR, tmp_path / "configs")
    assert compose_raw("train", ["seed=1"], config_dir=config_dir).trainer.max_epochs is None
    trainer_file = config_dir / "trainer" / "default.yaml"
    text = trainer_file.read_text()
    assert "max_epochs: null" in text
    trainer_file.write_text(text.replace("max_epochs: null", "max_epochs: 1234"))  # same size
    later = trainer_file.stat().st_mtime_ns + 10**9
    os.utime(trainer_file, ns=(later, later))
    kept = len(composed._BY_CHOICES)
    assert compose_raw("train", ["seed=1"], config_dir=config_dir).trainer.max_epochs == 1234
    assert len(composed._BY_CHOICES) == kept, "the edited config's tree replaces the old one"


def test_a_file_in_a_linked_folder_is_read_again_when_edited(tmp_path: Path) -> None:
    config_dir = shutil.copytree(CONFIG_DIR, tmp_path / "configs")
    mine = tmp_path / "my_local"
    mine.mkdir()
    (mine / "default.yaml").write_text("# @package _global_\nseed: 5\n")
    (config_dir / "local").symlink_to(mine, target_is_directory=True)
    assert compose_raw("train", ["num_threads=1"], config_dir=config_dir).seed == 5
    (mine / "default.yaml").write_text("# @package _global_\nseed: 12345\n")
    assert compose_raw("train", ["num_threads=1"], config_dir=config_dir).seed == 12345


def test_the_run_is_recorded_where_and_as_it_is_composed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = shutil.copytree(CONFIG_DIR, tmp_path / "configs")
    hydra_file = config_dir / "hydra" / "default.yaml"
    text = hydra_file.read_text()
    assert "job:\n  chdir: false\n" in text
    hydra_file.write_text(
        text.replace("chdir: false\n", "chdir: false\n  env_copy: [STOCKCAST_PROBE]\n")
    )
    for probe in ("one", "two"):
        monkeypatch.setenv("STOCKCAST_PROBE", probe)
        monkeypatch.chdir(tmp_path if probe == "one" else config_dir)
        node = compose_raw("train", ["seed=1"], config_dir, return_hydra_config=True).hydra
        assert probe == node.job.env_set.STOCKCAST_PROBE
        assert node.runtime.cwd == os.getcwd()


def test_the_group_choices_are_composed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(composed, "_BY_CHOICES", {})
    for seed in range(3):
        compose_raw("train", ["experiment=auto", f"seed={seed}"])
        compose_raw("train", [f"seed={seed}", "model=theta"])
    assert sorted(key[-2] for key in composed._BY_CHOICES) == [
        ("experiment=auto",),
        ("model=theta",),
    ]


def test_a_config_file_with_a_broken_interpolation_is_one_sentence(tmp_path: Path) -> None:
    """Hydra wraps the file's OmegaConf error in an exception without a message."""
    config_dir = shutil.copytree(CONFIG_DIR, tmp_path / "configs")
    train = config_dir / "train.yaml"
    train.write_text(train.read_text() + "\nbroken: ${\n")
    with pytest.raises(ConfigError) as refused:
        compose_config("train", ["seed=1"], config_dir=config_dir)
    assert str(refused.value).startswith("cannot compose the config: ")
    assert "${" in str(refused.value) and "\n" not in str(refused.value)


def test_a_config_file_that_is_no_yaml_is_one_sentence_naming_it(tmp_path: Path) -> None:
    config_dir = shutil.copytree(CONFIG_DIR, tmp_path / "configs")
    trainer = config_dir / "trainer" / "default.yaml"
    trainer.write_text(trainer.read_text() + "\nmax_epochs: 2\n")
    with pytest.raises(ConfigError) as refused:
        compose_config("train", ["seed=1"], config_dir=config_dir)
    assert str(refused.value).startswith(
        f"cannot compose the config: the config file {trainer} is not valid YAML at line "
    )
    assert str(refused.value).endswith(" (found duplicate key max_epochs); fix that file")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            b"max_epochs: 2\nname: caf\xe9\n",
            "is not UTF-8 text (byte b'\\xe9' at position 23); save it as UTF-8",
        ),
        (
            b"max_epochs: 2\nname: a\x07\n",
            "is not valid YAML at character 21 (unacceptable character #x0007: special "
            "characters are not allowed); fix that file",
        ),
    ],
)
def test_a_config_file_that_is_not_text_is_one_sentence_naming_it(
    tmp_path: Path, text: bytes, problem: str
) -> None:
    config_dir = shutil.copytree(CONFIG_DIR, tmp_path / "configs")
    trainer = config_dir / "trainer" / "default.yaml"
    trainer.write_bytes(text)
    with pytest.raises(ConfigError) as refused:
        compose_config("train", ["seed=1"], config_dir=config_dir)
    assert str(refused.value) == f"cannot compose the config: the config file {trainer} {problem}"


def test_a_config_file_holding_a_list_says_why_in_one_sentence(tmp_path: Path) -> None:
    """Hydra's first line ends in a colon; the reason is on its second."""
    config_dir = shutil.copytree(CONFIG_DIR, tmp_path / "configs")
    (config_dir / "trainer" / "default.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError) as refused:
        compose_config("train", ["seed=1"], config_dir=config_dir)
    assert str(refused.value).startswith("cannot compose the config: In 'trainer/")
    assert str(refused.value).endswith(": Cannot merge DictConfig with ListConfig")


def test_an_unknown_option_in_a_config_groups_list_is_named_with_the_options() -> None:
    """`logger=[csv,nope]`: Hydra's own error for an option in a list names no options, so the
    sentence names the one it lacks and those there are, as for `logger=nope`."""
    with pytest.raises(ConfigError) as refused:
        compose_config("train", ["logger=[csv,nope]"])
    assert str(refused.value) == (
        "cannot compose the config: logger=[csv,nope] names nope, which is not one of the "
        "logger configs; choose from csv, mlflow or none."
    )


def test_a_group_the_config_does_not_compose_is_named_with_what_to_do() -> None:
    """`data=csv` given to predict, which reads its series from input, was Hydra's "Could not
    override 'data'. No match in the defaults list.", naming no way out."""
    cases = {
        ("predict", "data=csv"): "data=csv chooses a config the predict config does not read: it "
        "reads its series from input, not data; choose input=csv instead.",
        ("predict", "data=gbm"): "data=gbm chooses a config the predict config does not read: it "
        "reads its series from input, not data; choose one of input=csv, synthetic, test_split or "
        "values instead.",
        # Neither command is a step: "read by no step of the serve config" named none.
        ("serve", "data=csv"): "data=csv chooses a config the serve config does not read: it "
        "composes no data config; remove it.",
        ("train", "input=values"): "input=values chooses a config the train config does not read: "
        "it composes no input config; remove it.",
    }
    for (config_name, override), sentence in cases.items():
        with pytest.raises(ConfigError) as refused:
            compose_config(config_name, [override])
        assert str(refused.value) == f"cannot compose the config: {sentence}"


def test_a_yaml_error_that_is_no_config_files_is_not_taken_for_one() -> None:
    """A command's own YAML reading (a sweep's summary) keeps its error: no file is to blame."""
    import yaml

    from stockcast.config.composition_errors import composition_error

    for text in ("a: [", "seed: 1\x07"):
        with pytest.raises(yaml.YAMLError) as raised:
            yaml.safe_load(text)
        assert composition_error(raised.value, "train", []) is None


def test_a_null_config_in_a_sweep_or_a_list_is_named_as_typed() -> None:
    """A sweep's alternatives (`-m logger=csv,null`) each give the group one config, a list
    (`logger=[csv,null]`) several: the sentence reads each as what it is, and the list's
    TypeError is matched in the wording Python 3.14 gives it too."""
    from stockcast.config.composition_errors import composition_error

    group_null = ValueError("Config group override must be a string or a list. Got NoneType")
    options = "choose one of csv, mlflow or none (logger=none switches it off)"
    assert composition_error(group_null, "train", ["logger=csv,null"]) == (
        f"logger=null gives the logger config group no config; {options}, or leave logger out "
        "for its default."
    )
    for wording in ("is not iterable", "is not a container or iterable"):
        deep = TypeError(f"argument of type 'NoneType' {wording}")
        assert composition_error(deep, "train", ["logger=[csv,null]"]) == (
            f"logger=[csv,null] names null among the logger config group's configs; {options}, "
            "or leave logger out for its default."
        )
    other = TypeError("'NoneType' object is not iterable")
    assert composition_error(other, "train", ["logger=[csv,null]"]) is None


RANGE_REFUSAL = (
    "optim.lr=tag(log,interval(1e-4,1e-2)) is a range to draw from, which only the Optuna "
    "sweeper searches: add hydra/sweeper=optuna (or an hparams_search, with its own keys as "
    "well), or give the grid sweeper values to run with choice(...), range(...) or a comma list."
)


def test_a_range_the_grid_sweeper_cannot_run_is_named_with_the_sweeper_that_can() -> None:
    """`-m optim.lr=interval(...)` without the Optuna sweeper: Hydra's grid sweeper raised
    `BasicSweeper does not support sweep type : INTERVAL_SWEEP` as a traceback."""
    from hydra.errors import HydraException

    from stockcast.config.composition_errors import composition_error

    raised = HydraException("BasicSweeper does not support sweep type : INTERVAL_SWEEP")
    overrides = ["seed=1,2", "optim.lr=tag(log,interval(1e-4,1e-2))"]
    assert composition_error(raised, "train", overrides) == RANGE_REFUSAL


SEARCH_SPACE_REFUSAL = (
    "error: {override} cannot be composed: Hydra reads the dots of a key such as optim.lr as "
    "nested settings, and adds no key to hydra.sweeper.params from the command line; give the "
    "searched key its own override instead, which either sweeper searches: {instead}."
)


@pytest.mark.parametrize(
    ("overrides", "instead"),
    [
        # Into the grid sweeper's null search space: OmegaConf's AttributeError.
        (["hydra.sweeper.params={optim.lr:'1e-3,3e-3'}"], "optim.lr=1e-3,3e-3"),
        # Into the Optuna sweeper's own null one, dotted: OmegaConf's AssertionError.
        (
            ["hydra/sweeper=optuna", "hydra.sweeper.params.optim.lr='interval(1e-4,1e-2)'"],
            "'optim.lr=interval(1e-4,1e-2)'",
        ),
        # A key the search holds, dotted: Hydra reads optim.lr as optim, then lr.
        (
            ["hparams_search=mlp_optuna", "hydra.sweeper.params.optim.lr='interval(1e-4,1e-2)'"],
            "'optim.lr=interval(1e-4,1e-2)'",
        ),
        # A key the search lacks: Hydra closes the search space to new keys.
        (["hparams_search=mlp_optuna", "hydra.sweeper.params={seed:'1,2'}"], "seed=1,2"),
        # Unquoted: a sweep of Hydra's own settings.
        (["hydra.sweeper.params.optim.lr=1e-3,3e-3"], "optim.lr=1e-3,3e-3"),
    ],
)
def test_a_search_space_set_on_the_command_line_names_the_override_that_searches(
    overrides: list[str],
    instead: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`-m hydra.sweeper.params...` as a user types it ended in OmegaConf's AttributeError or
    AssertionError traceback, or a sentence saying it was no setting of Hydra's."""
    import runpy
    import sys

    monkeypatch.setenv("STOCKCAST_ROOT", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["src/train.py", "-m", *overrides])
    try:
        with pytest.raises(SystemExit) as stopped:
            runpy.run_path(str(CONFIG_DIR.parent / "src" / "train.py"), run_name="__main__")
    finally:
        GlobalHydra.instance().clear()
    assert stopped.value.code == 2
    told = SEARCH_SPACE_REFUSAL.format(override=overrides[-1], instead=instead)
    assert capsys.readouterr().err.strip().splitlines()[-1] == told
    assert not (tmp_path / "logs").exists()


def test_a_group_given_null_lists_the_config_dir_options_too(tmp_path: Path) -> None:
    """`--config-dir mine logger=null`: the options offered were configs/ ones alone, so the
    user's own logger config in the folder was missing from "choose one of"."""
    from stockcast.config.composition_errors import composition_error

    (tmp_path / "logger").mkdir()
    (tmp_path / "logger" / "mine.yaml").write_text("{}\n")
    group_null = ValueError("Config group override must be a string or a list. Got NoneType")
    assert composition_error(group_null, "train", ["logger=null"], config_dirs=[tmp_path]) == (
        "logger=null gives the logger config group no config; choose one of csv, mine, mlflow "
        "or none (logger=none switches it off), or leave logger out for its default."
    )


def test_config_group_options_merge_the_config_dir_and_leave_out_pieces(tmp_path: Path) -> None:
    """A group's options, as both the null-group refusal and a sweep trial's refusal offer
    them: configs/ and the --config-dir folder's together, once each, without `_` pieces."""
    from stockcast.paths import config_group_options

    (tmp_path / "hparams_search").mkdir()
    for name in ("mine", "_base", "mlp_optuna"):
        (tmp_path / "hparams_search" / f"{name}.yaml").write_text("{}\n")
    assert config_group_options("hparams_search", [tmp_path]) == [
        "auto_optuna",
        "mine",
        "mlp_optuna",
    ]
    assert config_group_options("no_such_group") == []


@pytest.mark.parametrize(
    ("override", "sentence"),
    [
        ("mygrop=x", "mygrop is not a setting of the train config; did you mean mygroup?"),
        (
            "+mygroup=x,y",
            "cannot read the override '+mygroup=x,y': a comma separates the values of a sweep, "
            "which only a multirun takes (-m, where the command has one); choose one mygroup "
            "option for a single run.",
        ),
    ],
)
def test_a_config_dir_group_is_a_config_group(tmp_path: Path, override: str, sentence: str) -> None:
    """A group of the user's --config-dir folder alone was no config group to the sentences: a
    typo of it was told to go, and a comma list for it was told to become a list."""
    from stockcast.config.composition_errors import composition_error
    from stockcast.config.hydra_compose import searching

    (tmp_path / "mygroup").mkdir()
    (tmp_path / "mygroup" / "x.yaml").write_text("a: 1\n")
    compose = searching([tmp_path])
    with pytest.raises(Exception) as raised:
        compose("train", [override])
    found = composition_error(raised.value, "train", [override], config_dirs=[tmp_path])
    assert found == sentence


def test_a_config_dir_source_set_apart_from_its_config_is_named(tmp_path: Path) -> None:
    """`--config-dir mine data.source=mine data.path=x.csv` (mine/data/mine.yaml holding path):
    the source's own config was read from configs/ alone, so data.path was refused as a
    setting to remove instead of the advice to choose data=mine."""
    from stockcast.config.composition_errors import composition_error
    from stockcast.config.hydra_compose import searching

    (tmp_path / "data").mkdir()
    shutil.copy(CONFIG_DIR / "data" / "csv.yaml", tmp_path / "data" / "mine.yaml")
    compose = searching([tmp_path])
    overrides = ["data.source=mine", "data.path=x.csv"]
    with pytest.raises(ConfigCompositionException) as raised:
        compose("train", overrides)
    assert composition_error(raised.value, "train", overrides, "", [tmp_path]) == (
        "data.source=mine keeps the settings of the data config chosen; choose the source's "
        "own config with data=mine instead of setting data.source."
    )


@pytest.mark.parametrize(
    ("overrides", "sentence"),
    [
        (
            ["~data.seaon_length"],
            "~data.seaon_length deletes nothing: the train config has no data.seaon_length; did "
            "you mean ~data.season_length?",
        ),
        (
            ["~dta.seed"],
            "~dta.seed deletes nothing: the train config has no dta; did you mean ~data.seed?",
        ),
        (
            ["~data.kind"],
            "~data.kind deletes nothing: the train config has no data.kind (data holds "
            "allow_non_positive, as_of, batch_size, drift, eval_batch_size, length, "
            "min_relative_scale, next_time_window, normalization, previous_time_window, "
            "require_new_data, season_length and 8 more); drop it.",
        ),
        # Hydra cannot delete a null either, and says it does not exist.
        (
            ["data=csv", "~data.id_column"],
            "~data.id_column deletes nothing: the train config holds no value at "
            "data.id_column; drop it.",
        ),
    ],
)
def test_deleting_a_key_the_config_lacks_is_one_sentence(
    overrides: list[str], sentence: str
) -> None:
    """`~data.kind`: Hydra's "Could not delete from config. 'data.kind' does not exist." said
    neither what was meant nor what to do."""
    with pytest.raises(ConfigError) as refused:
        compose_config("train", overrides)
    assert str(refused.value) == f"cannot compose the config: {sentence}"


def test_deleting_a_group_the_config_does_not_compose_is_one_sentence() -> None:
    """`~data` given to predict, which composes no data config, was Hydra's "Could not delete
    'data'. No match in the defaults list", naming no way out."""
    for config_name, group in (("predict", "data"), ("train", "input")):
        with pytest.raises(ConfigError) as refused:
            compose_config(config_name, [f"~{group}"])
        assert str(refused.value) == (
            f"cannot compose the config: ~{group} deletes nothing: the {config_name} config "
            f"composes no {group} config; drop it."
        )


def test_a_searchpath_folder_counts_as_the_commands_own(tmp_path: Path) -> None:
    """`hydra.searchpath=[file://mine] logger=null`: the folder's configs compose as a
    --config-dir folder's do, but the options offered were configs/ ones alone."""
    (tmp_path / "logger").mkdir()
    (tmp_path / "logger" / "mine.yaml").write_text("{}\n")
    with pytest.raises(ConfigError) as refused:
        compose_config("train", [f"hydra.searchpath=['file://{tmp_path}']", "logger=null"])
    assert str(refused.value) == (
        "cannot compose the config: logger=null gives the logger config group no config; "
        "choose one of csv, mine, mlflow or none (logger=none switches it off), or leave logger "
        "out for its default."
    )


def _own_config_refused(folder: Path, group: str, text: str) -> str | None:
    """composition_error's sentence for the train config with `<group>=mine2`, whose file in
    `folder` (a `--config-dir`) holds `text`, which Hydra refuses to compose."""
    from stockcast.config.composition_errors import composition_error
    from stockcast.config.hydra_compose import searching

    (folder / group).mkdir()
    (folder / group / "mine2.yaml").write_text(text)
    overrides = [f"{group}=mine2"]
    with pytest.raises(ConfigCompositionException) as raised:
        searching([folder])("train", overrides)
    return composition_error(raised.value, "train", overrides, config_dirs=[folder])


@pytest.mark.parametrize(
    "defaults",
    [
        "defaults:\n  - override /model: mlp\n",
        "defaults:\n  - _self_\n  - override /data: csv\n  - override /model: mlp\n",
    ],
    ids=["one_override", "self_then_two"],
)
def test_an_experiment_overriding_a_group_without_its_header_says_to_add_it(
    tmp_path: Path, defaults: str
) -> None:
    """`--config-dir mine experiment=mine2`, mine2.yaml overriding a group but lacking the
    `# @package _global_` line: Hydra's "Could not override 'model@experiment.model'" was
    passed on, though README promises the sentence saying to add the header."""
    refused = _own_config_refused(tmp_path, "experiment", f"{defaults}\ntrainer:\n  max_steps: 5\n")
    assert refused == (
        "experiment holds settings of its config file instead of the top level: add '# @package "
        "_global_' as the first line of experiment/mine2.yaml, as the built-in experiment "
        "configs have it."
    )


@pytest.mark.parametrize(
    "defaults",
    [
        "defaults:\n  - mlp\n  - override /data: seasonal\n  - _self_\n",
        "defaults:\n  - override /data: seasonal\n",
    ],
    ids=["beside_its_base", "alone"],
)
def test_a_model_config_choosing_data_says_how_to_write_it(tmp_path: Path, defaults: str) -> None:
    """`--config-dir mine model=mine2`, mine2.yaml choosing data with `override /data: seasonal`:
    Hydra's "Could not override 'data@model.data'" was passed on, and the header an experiment
    lacks would put the model's settings at the top level; the line named composes."""
    from stockcast.config.hydra_compose import searching

    refused = _own_config_refused(tmp_path, "model", f"{defaults}kind: mlp\nhidden_sizes: [8]\n")
    assert refused == (
        "model/mine2.yaml chooses data in its defaults list, where a model config's choices "
        "land under model; write '- override /data@_global_.data: seasonal' there, which "
        "chooses the top-level data config."
    )
    written = tmp_path / "model" / "mine2.yaml"
    written.write_text(
        written.read_text().replace("/data: seasonal", "/data@_global_.data: seasonal")
    )
    cfg = searching([tmp_path])("train", ["model=mine2"])
    assert (cfg.data.source, cfg.model.hidden_sizes) == ("seasonal", [8])


@pytest.mark.parametrize(
    ("config_name", "override", "registered"),
    [
        ("predict", "+experiment=mlp_w10", "pipeline_stock_predictor"),
        ("predict", "+experiment=mlp_w30", "stock_predictor_mlp_w30"),
        ("predict", "experiment=mlp_w30", "stock_predictor_mlp_w30"),
        ("serve", "+experiment=auto", "stock_predictor_auto"),
        ("serve", "experiment=market_global", "market_global"),
    ],
)
def test_an_experiment_given_to_a_registered_models_client_names_its_model(
    config_name: str, override: str, registered: str
) -> None:
    """`scripts/predict.py +experiment=mlp_w10` was Hydra's raw "In 'experiment/mlp_w10': Could
    not override 'data'. No match in the defaults list.": an experiment is how a model is
    trained, and predict and serve open the model it registered, by its name."""
    chosen = override.removeprefix("+")
    with pytest.raises(ConfigError) as refused:
        compose_config(config_name, [override])
    assert str(refused.value) == (
        f"cannot compose the config: {chosen} chooses a config the {config_name} config does not "
        f"read: an experiment says how a model is trained, and {config_name} opens the model it "
        f"registered; choose model.name={registered} instead (with model.version=N or "
        "model.alias=NAME for one of its versions)."
    )
