"""Every config composes and instantiates; Hydra's own features keep working."""

from __future__ import annotations

import os
from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from stockcast.config.compose import CONFIG_DIR
from stockcast.config.schema import validate_config
from stockcast.errors import ConfigError
from tests.conftest import CLI_ENV, Command, run_cli, run_command

EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
DEBUGS = sorted(p.stem for p in (CONFIG_DIR / "debug").glob("*.yaml") if p.stem != "default")


def test_there_are_experiments() -> None:
    assert {"mlp_w10", "mlp_w30", "mlp_seasonal"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("config_name", ["train", "pipeline"])
def test_experiment_composes_and_instantiates(make_cfg, experiment: str, config_name: str) -> None:
    cfg = make_cfg(f"experiment={experiment}", config_name=config_name)
    OmegaConf.resolve(cfg)
    assert "input_size" not in cfg.model and "horizon" not in cfg.model, "one vocabulary"
    validate_config(cfg)
    trainer = hydra.utils.instantiate(cfg.trainer, logger=False, callbacks=[])
    assert trainer.max_epochs == cfg.trainer.max_epochs
    for node in cfg.callbacks.values():
        hydra.utils.instantiate(node)
    optimizer = hydra.utils.instantiate(cfg.optim.optimizer)
    assert optimizer.func.__name__ == "Adam" and optimizer.keywords["lr"] == cfg.optim.lr


def test_mlp_w10_is_the_original_model(make_cfg) -> None:
    cfg = make_cfg("experiment=mlp_w10")
    assert (cfg.data.previous_time_window, cfg.data.next_time_window) == (10, 5)
    assert list(cfg.model.hidden_sizes) == [100, 100]


def test_gbm_defaults_match_the_original_generator(make_cfg) -> None:
    cfg = make_cfg()
    assert (cfg.data.length, cfg.data.start_price, cfg.data.drift, cfg.data.volatility) == (
        500,
        100.0,
        1e-4,
        0.02,
    )
    assert list(cfg.data.normalization) == ["per_window", "standard", "per_window_level"]


def test_experiment_windows_survive_a_data_source_switch(make_cfg) -> None:
    cfg = make_cfg("experiment=mlp_w30", "data=csv", "data.path=prices.csv")
    assert cfg.data.source == "csv" and cfg.data.previous_time_window == 30


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("source", ["csv", "parquet"])
def test_every_experiment_trains_on_a_file(make_cfg, experiment: str, source: str) -> None:
    """`experiment=X data=csv data.path=...` (the README's form) is a valid config: an
    experiment's settings for its own synthetic market (its length) stay with that market."""
    cfg = make_cfg(f"experiment={experiment}", f"data={source}", "data.path=prices.csv")
    validate_config(cfg)
    assert cfg.data.source == source and "length" not in cfg.data


def test_an_experiment_keeps_its_length_on_its_own_market(make_cfg) -> None:
    lengths = {name: make_cfg(f"experiment={name}").data.length for name in ("mlp_w10", "mlp_w30")}
    assert lengths == {"mlp_w10": 2000, "mlp_w30": 3000}
    assert make_cfg("experiment=mlp_w10", "data.length=300").data.length == 300
    assert make_cfg("experiment=mlp_w10", "data=seasonal").data.length == 1000  # its own
    assert make_cfg("~experiment").data.length == 500  # no experiment at all: gbm's own


@pytest.mark.parametrize("debug", DEBUGS)
def test_debug_configs_compose(make_cfg, debug: str) -> None:
    cfg = make_cfg(f"debug={debug}")
    assert cfg.task_name == "debug"
    hydra.utils.instantiate(cfg.trainer, logger=False)


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


TABLE_PATH = {"csv": ("data.path=p.csv",), "parquet": ("data.path=p.parquet",)}
# Every shipped config and group option, as each command composes it: each key it holds is one
# the schema knows (sections forbid unknown keys).
COMPOSED = [
    ("serve", ()),
    *(("replay", (f"experiment={name}",)) for name in EXPERIMENTS),
    ("predict", ("input=csv", "input.path=p.csv")),
    ("predict", ("input=values", "input.values=[1.0,2.0]")),
    ("predict", ("input=test_split",)),
    ("predict", ("input=synthetic",)),
    *(("pipeline", (f"data={name}", *TABLE_PATH.get(name, ()))) for name in options("data")),
    *(("train", (f"trainer={name}",)) for name in options("trainer")),
    *(("train", (f"logger={name}",)) for name in options("logger")),
    *(("train", (f"callbacks={name}",)) for name in options("callbacks")),
    *(("train", (f"debug={name}",)) for name in options("debug")),
    ("pipeline", ("+azureml=default",)),
]


@pytest.mark.parametrize(("config_name", "overrides"), COMPOSED)
def test_every_config_and_option_validates(make_cfg, config_name: str, overrides) -> None:
    assert validate_config(make_cfg(*overrides, config_name=config_name))


@pytest.mark.parametrize(
    ("search", "kind", "window"), [("mlp_optuna", "mlp", None), ("auto_optuna", "ensemble", "auto")]
)
def test_every_trial_of_a_hparams_search_validates(
    tmp_path: Path, search: str, kind: str, window: object
) -> None:
    """Every choice and both ends of every interval of the search space, as the sweeper writes
    them into a trial's overrides, compose into a valid config of the model the search is for
    (auto's window stays data-chosen; mlp_optuna searches it)."""
    import yaml
    from optuna.distributions import CategoricalDistribution

    from stockcast.orchestration.sweeps.search_space import parse_search_space
    from tests.conftest import compose_config as compose

    params = yaml.safe_load((CONFIG_DIR / "hparams_search" / f"{search}.yaml").read_text())
    space = parse_search_space(params["hydra"]["sweeper"]["params"], [])
    values = {
        key: list(d.choices) if isinstance(d, CategoricalDistribution) else [d.low, d.high]
        for key, d in space.distributions.items()
    }
    for trial in range(max(len(v) for v in values.values())):
        sampled = {key: v[trial % len(v)] for key, v in values.items()}
        cfg = compose(
            "train", [f"hparams_search={search}", *space.trial_overrides(sampled)], tmp_path
        )
        assert validate_config(cfg) and cfg.optimized_metric == "val/mase"
        assert cfg.model.kind == kind
        assert window is None or cfg.data.previous_time_window == window


def test_the_schema_knows_every_lightning_trainer_callback_and_logger_argument() -> None:
    import inspect

    from lightning.pytorch import Trainer
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import MLFlowLogger

    from stockcast.fields import (
        EARLY_STOPPING_ARGUMENTS,
        MLFLOW_LOGGER_ARGUMENTS,
        MODEL_CHECKPOINT_ARGUMENTS,
        TRAINER_ARGUMENTS,
    )

    for built, names in (
        (Trainer, TRAINER_ARGUMENTS),
        (EarlyStopping, EARLY_STOPPING_ARGUMENTS),
        (ModelCheckpoint, MODEL_CHECKPOINT_ARGUMENTS),
        (MLFlowLogger, MLFLOW_LOGGER_ARGUMENTS),
    ):
        assert set(names) == set(inspect.signature(built.__init__).parameters) - {"self"}


@pytest.mark.parametrize(
    ("overrides", "sentence"),
    [
        (
            ["experiment=nope"],
            "experiment=nope is not one of the experiment configs; choose one of auto, "
            "market_global, mlp_seasonal, mlp_w10 or mlp_w30.",
        ),
        (
            ["data=csvv"],
            "data=csvv is not one of the data configs (csv, gbm, market, parquet or seasonal); "
            "did you mean data=csv?",
        ),
        (
            ["model.hiden_sizes=[1]"],
            "model.hiden_sizes is not a setting of the train config; did you mean "
            "model.hidden_sizes?",
        ),
        (
            ["data=csv", "data.pth=prices.csv"],
            "data.pth is not a setting of the train config; did you mean data.path?",
        ),
        (
            ["modle.hidden_sizes=[1]"],
            "modle is not a setting of the train config; did you mean model?",
        ),
        (  # a group whose settings go to the top level is no key: it was "remove it"
            ["experimnt=mlp_w10"],
            "experimnt is not a setting of the train config; did you mean experiment?",
        ),
        (
            ["hparam_search=mlp_optuna"],
            "hparam_search is not a setting of the train config; did you mean hparams_search?",
        ),
        (  # Hydra's advice was for a defaults list: "use 'override experiment: mlp_w10'"
            ["+experiment=mlp_w10"],
            "+experiment=mlp_w10 adds experiment, which is already chosen; drop the '+'.",
        ),
        (
            ["+optim=adam"],
            "+optim=adam adds optim, which is already chosen; drop the '+'.",
        ),
        (  # an ensemble's candidates are a list (what auto_optuna searches)
            ["experiment=auto", "model.candidates.0.hiden_sizes=[1]"],
            "model.candidates.0.hiden_sizes is not a setting of the train config; did you mean "
            "model.candidates.0.hidden_sizes?",
        ),
        (
            ["experiment=auto", "model.candidates.7.hidden_sizes=[1]"],
            "model.candidates.7 is not in the train config: model.candidates holds 4 (numbered "
            "0 to 3).",
        ),
        (  # the MLP's keys on the ensemble, as hparams_search=mlp_optuna gives them
            ["experiment=auto", "model.hidden_sizes=[32,32]", "model.dropout=0.1"],
            "model.hidden_sizes is not a setting of the train config; remove it (model holds "
            "anchor, candidates, combination, combination_power, huber_delta, interval_levels, "
            "interval_scale_values, kind, loss, quantiles and window_scale_power).",
        ),
        (  # OmegaConf's TypeError, which Hydra lets through
            ["experiment=auto", "model.candidates.x.window=3"],
            "model.candidates.x is not in the train config: model.candidates holds 4 (numbered "
            "0 to 3).",
        ),
        (
            ["experiment=auto", "+model.candidates.9.window=3"],
            "model.candidates.9 is not in the train config: model.candidates holds 4 (numbered "
            "0 to 3).",
        ),
        (
            ["model.hidden_sizes=[1"],
            "cannot read the override 'model.hidden_sizes=[1' (no viable alternative at input "
            "'[1'); fix its syntax, e.g. a list is written [1,2] and text with spaces is quoted.",
        ),
        (  # data.separator=';' as a shell passes it, without its quotes
            ["data=csv", "data.separator=;"],
            "cannot read the override 'data.separator=;': a value holding ';' is quoted for "
            "Hydra, and the whole override for the shell: \"data.separator=';'\".",
        ),
        (  # Hydra's own words named no way out: a comma outside -m is a sweep it cannot run
            ["model.hidden_sizes=64,64"],
            "cannot read the override 'model.hidden_sizes=64,64': a comma separates the values "
            "of a sweep, which only a multirun takes (-m, where the command has one); for one "
            "value, write a list in brackets (model.hidden_sizes=[64,64]) or quote a value "
            "holding a comma for Hydra and the whole override for the shell "
            "(\"model.hidden_sizes='64,64'\").",
        ),
        (  # A list of a group's options merges them silently: the last one wins.
            ["experiment=auto,mlp_w10"],
            "cannot read the override 'experiment=auto,mlp_w10': a comma separates the values "
            "of a sweep, which only a multirun takes (-m, where the command has one); choose "
            "one experiment option for a single run.",
        ),
        (  # A setting that holds text takes the comma quoted: a list would be no text.
            ["data=csv", "data.value_column=Adj,Close"],
            "cannot read the override 'data.value_column=Adj,Close': a comma separates the "
            "values of a sweep, which only a multirun takes (-m, where the command has one); "
            "data.value_column holds text: quote a value holding a comma for Hydra and the whole "
            "override for the shell (\"data.value_column='Adj,Close'\").",
        ),
        (  # Null by default, but words with spaces: a cron expression is text.
            ["+azureml.schedule.cron=0 6 * * 1,3,5"],
            "cannot read the override '+azureml.schedule.cron=0 6 * * 1,3,5': a comma separates "
            "the values of a sweep, which only a multirun takes (-m, where the command has one); "
            "+azureml.schedule.cron holds text: quote a value holding a comma for Hydra and the "
            "whole override for the shell (\"+azureml.schedule.cron='0 6 * * 1,3,5'\").",
        ),
        (  # A quote in the value: the whole override is named, not the part before it.
            ["data=csv", "data.value_column='Adj Close',Close"],
            "cannot read the override \"data.value_column='Adj Close',Close\": a comma "
            "separates the values of a sweep, which only a multirun takes (-m, where the "
            "command has one); for one value, write a list in brackets "
            "(data.value_column=['Adj Close',Close]) or give a single value.",
        ),
        (  # Hydra's own words: "Error merging override data.split=[0.8,0.1,0.1]"
            ["data.split=[0.8,0.1,0.1]"],
            "data.split holds named settings (train, val and test), not a list: set each by "
            "its name, e.g. data.split.train=0.7.",
        ),
        (
            ["model.hidden_sizes={a:1}"],
            "model.hidden_sizes is a list: give its values in brackets "
            "(model.hidden_sizes=[...]), not named settings.",
        ),
        (  # a key of trainer/default.yaml until the fit set it from its own schedule
            ["trainer.check_val_every_n_epoch=2"],
            "trainer.check_val_every_n_epoch is now fit.val_every_steps (the fit validates about "
            "every that many optimizer steps whatever the epoch length); set that instead.",
        ),
        (  # A Lightning argument the config leaves unset: "remove it" was the advice.
            ["trainer.precision=bf16-mixed"],
            "trainer.precision is an argument the train config leaves unset; add it with a "
            "'+': +trainer.precision=bf16-mixed.",
        ),
        (
            ["callbacks.early_stopping.stopping_threshold=0.5"],
            "callbacks.early_stopping.stopping_threshold is an argument the train config leaves "
            "unset; add it with a '+': +callbacks.early_stopping.stopping_threshold=0.5.",
        ),
        (  # near an argument, and no set key is nearer
            ["trainer.limit_val_batch=2"],
            "trainer.limit_val_batch is not a setting of the train config; did you mean "
            "+trainer.limit_val_batches=2?",
        ),
        (  # Hydra's ValueError named no override
            ["logger=null"],
            "logger=null gives the logger config group no config; choose one of csv, mlflow or "
            "none (logger=none switches it off), or leave logger out for its default.",
        ),
        (  # Hydra's TypeError from deep in its defaults list
            ["logger=[csv,null]"],
            "logger=[csv,null] names null among the logger config group's configs; choose one "
            "of csv, mlflow or none (logger=none switches it off), or leave logger out for its "
            "default.",
        ),
        (
            ["experiment=NULL"],
            "experiment=NULL gives the experiment config group no config; choose one of auto, "
            "market_global, mlp_seasonal, mlp_w10 or mlp_w30, or leave experiment out for its "
            "default.",
        ),
    ],
)
def test_composition_mistakes_are_one_sentence(make_cfg, overrides, sentence: str) -> None:
    """Hydra's own errors (an unknown group option, a key the config lacks, a broken override)
    in one sentence naming what exists."""
    with pytest.raises(ConfigError) as caught:
        make_cfg(*overrides)
    assert str(caught.value) == f"cannot compose the config: {sentence}"


def test_default_paths_live_under_the_project_root(
    make_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without STOCKCAST_ROOT (which a developer's shell may set) the root is the project's."""
    monkeypatch.delenv("STOCKCAST_ROOT", raising=False)
    cfg = make_cfg()
    root = Path(cfg.paths.root_dir)
    assert (root / "configs").is_dir()
    assert cfg.registry.model_name == "pipeline_stock_predictor"


def test_an_empty_variable_is_read_as_unset_as_make_reads_it(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`export STOCKCAST_ROOT=` leaves the project folder the root, not the current folder, and
    an empty STOCKCAST_KEYS_DIR the keys under the root, where `make keys` writes them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STOCKCAST_ROOT", "")
    monkeypatch.setenv("STOCKCAST_KEYS_DIR", "")
    assert Path(make_cfg().paths.root_dir) == CONFIG_DIR.parent
    key = tmp_path / "root" / "keys" / "model-signing.key"
    key.parent.mkdir(parents=True)
    key.write_text("a stand-in for the PEM")
    monkeypatch.setenv("STOCKCAST_ROOT", str(tmp_path / "root"))
    assert make_cfg().registry.signing.private_key == str(key)


@pytest.mark.parametrize("choice", [None, "default", "disabled", "none"])
def test_each_job_logging_choice_configures_logging(tmp_path: Path, choice: str | None) -> None:
    """The task's log file (train.log) was a patch on Hydra's default job logging, which
    `hydra/job_logging=disabled` kept as a file handler of no class: every run stopped with
    `Unable to configure handler 'file'` and a traceback, before the task ran."""
    import logging

    from hydra.core.utils import configure_log

    from stockcast.config.hydra_compose import compose_raw

    overrides = [] if choice is None else [f"hydra/job_logging={choice}"]
    cfg = compose_raw("train", overrides, return_hydra_config=True)
    cfg.hydra.runtime.output_dir = str(tmp_path)
    cfg.hydra.job.name = "train"  # as a run of src/train.py sets it
    root, loggers = logging.getLogger(), list(logging.root.manager.loggerDict.values())
    saved = (root.level, root.handlers[:], [getattr(lg, "disabled", False) for lg in loggers])
    try:
        configure_log(cfg.hydra.job_logging, verbose_config=False)
        added = [h for h in root.handlers if h not in saved[1]]
        files = [h.baseFilename for h in added if isinstance(h, logging.FileHandler)]
    finally:
        for handler in root.handlers:
            if handler not in saved[1]:
                handler.close()
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for logger, disabled in zip(loggers, saved[2], strict=True):
            if isinstance(logger, logging.Logger):
                logger.disabled = disabled
    expected = {None: ["train.log"], "default": ["train.log"], "disabled": [], "none": []}
    assert [Path(name).name for name in files] == expected[choice]


@pytest.mark.slow  # a fresh Python process
def test_hydra_prints_the_job_config(tmp_path: Path) -> None:
    result = run_cli(["src/train.py", "--cfg", "job", "experiment=mlp_w10"], tmp_path)
    cfg = OmegaConf.create(result.stdout)
    assert cfg.data.previous_time_window == 10
    assert list(cfg.model.hidden_sizes) == [100, 100]


@pytest.mark.slow  # a fresh Python process
@pytest.mark.parametrize(
    ("script", "task"), [("src/train.py", "train"), ("scripts/serve.py", "serve")]
)
def test_hydra_prints_its_own_settings_resolved(tmp_path: Path, script: str, task: str) -> None:
    """`--cfg hydra --resolve` failed with `Interpolation key 'paths.log_dir' not found`: Hydra
    dropped the task's keys its run folder is built from before resolving it."""
    logs = tmp_path / "logs"
    result = run_cli([script, "--cfg", "hydra", "--resolve", f"paths.log_dir={logs}"], tmp_path)
    cfg = OmegaConf.create(result.stdout)
    assert list(cfg) == ["hydra"]
    assert cfg.hydra.run.dir.startswith(f"{logs}/{task}/runs/")
    assert cfg.hydra.sweep.dir.startswith(f"{logs}/{task}/multiruns/")
    assert not logs.exists()


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            ["src/train.py", "experiment=nope"],
            "experiment=nope is not one of the experiment configs; choose one of auto, "
            "market_global, mlp_seasonal, mlp_w10 or mlp_w30.",
        ),
        (
            ["src/train.py", "model.hiden_sizes=[1]"],
            "model.hiden_sizes is not a setting of the train config; did you mean "
            "model.hidden_sizes?",
        ),
        (
            ["scripts/predict.py", "+input.pth=prices.csv"],
            "input.pth is not a setting of the predict config; did you mean input.path?",
        ),
        # The train config's data given to predict: "did you mean data?" named the very key.
        (
            ["scripts/predict.py", "data.path=prices.csv"],
            "data.path is not a setting of the predict config, which reads its series from "
            "input, not data; did you mean input=csv input.path=prices.csv?",
        ),
        (
            ["scripts/predict.py", "+data.path=prices.csv"],
            "data.path is not a setting of the predict config, which reads its series from "
            "input, not data; did you mean input=csv input.path=prices.csv?",
        ),
        (
            ["scripts/predict.py", "input=csv", "data.value_column=Close"],
            "data.value_column is not a setting of the predict config, which reads its series "
            "from input, not data; did you mean input.value_column=Close?",
        ),
        (
            ["scripts/predict.py", "data.num_series=3"],
            "data.num_series is not a setting of the predict config, which reads its series from "
            "input, not data, and no input config has a num_series; remove it.",
        ),
        (
            ["scripts/predict.py", "+data=csv"],
            "data=csv chooses a config the predict config does not read: it reads its series "
            "from input, not data; choose input=csv instead.",
        ),
        (
            ["scripts/serve.py", "data.path=prices.csv"],
            "data.path is not a setting of the serve config, which composes no data config; "
            "remove it (its top level holds check_model_requirements, guard, model, paths, "
            "registry, registry_connection, serve and task_name).",
        ),
        (
            ["src/train.py", "--config-dir", "/no/such/folder"],
            "--config-dir /no/such/folder is not a folder; give the folder that holds your own "
            "configs (experiment/<name>.yaml in it, say).",
        ),
        # The config -cn names, not the command's own.
        (
            ["src/train.py", "-cn", "nope"],
            "--config-name nope names no config: there is no nope.yaml in configs/ or a "
            "--config-dir folder; give the name of one without .yaml, or leave --config-name out.",
        ),
        (
            ["src/train.py", "--config-name=predict", "input.pth=prices.csv"],
            "input.pth is not a setting of the predict config; remove it (input holds kind, "
            "length, seed and values).",
        ),
        # A deleted section another default, the run folder or an override needs: Hydra's
        # own named neither the ~ nor what to do.
        (["src/train.py", "~data"], "~data deletes data, which this command needs; drop it."),
        (
            ["src/train.py", "~task_name"],
            "~task_name deletes task_name, which this command needs; drop it.",
        ),
        (
            ["src/train.py", "~trainer", "trainer.max_steps=1"],
            "~trainer deletes trainer, which this command needs; drop it.",
        ),
    ],
)
def test_a_config_mistake_on_the_command_line_is_one_sentence_and_exit_2(
    tmp_path: Path, args: list[str], sentence: str
) -> None:
    """Hydra composes before any code of ours runs; its errors, and the schema's, end as one
    `error:` line, exit status 2, and nothing but Hydra's own run folder is written."""
    from tests.reliability_helpers import assert_one_sentence_refusal

    result = run_cli([*args, f"paths.log_dir={tmp_path / 'logs'}"], tmp_path, check=False)
    assert assert_one_sentence_refusal(result) == f"error: {sentence}"
    written = {path.name for path in (tmp_path / "logs").rglob("*") if path.is_file()}
    assert written <= {"config.yaml", "hydra.yaml", "overrides.yaml", "train.log", "predict.log"}


def test_a_mistake_beside_a_config_dir_model_is_judged_against_that_model(
    tmp_path: Path,
) -> None:
    """`--config-dir mine model=myets model.hiden_sizes=[1]`: the config was composed again
    without the folder to say what was meant, so the default model's names were offered (`did
    you mean model.hidden_sizes?`), which the user's ets model refuses in turn."""
    from tests.reliability_helpers import assert_one_sentence_refusal

    (tmp_path / "mine" / "model").mkdir(parents=True)
    ets = (CONFIG_DIR / "model" / "ets.yaml").read_text()
    (tmp_path / "mine" / "model" / "myets.yaml").write_text(ets)
    args = ["src/train.py", "--config-dir", str(tmp_path / "mine"), "model=myets"]
    result = run_cli([*args, "model.hiden_sizes=[1]"], tmp_path, check=False)
    assert assert_one_sentence_refusal(result) == (
        "error: model.hiden_sizes is not a setting of the train config; remove it (model holds "
        "anchor, combination, combination_power, huber_delta, interval_levels, "
        "interval_scale_values, kind, loss, quantiles, trends, values and window_scale_power)."
    )


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            ["src/train.py", "--help", "experiment=nope"],
            "experiment=nope is not one of the experiment configs; choose one of auto, "
            "market_global, mlp_seasonal, mlp_w10 or mlp_w30.",
        ),
        (
            ["scripts/predict.py", "--info", "all", "input.pth=prices.csv"],
            "input.pth is not a setting of the predict config; remove it (input holds kind, "
            "length, seed and values).",
        ),
        (
            ["src/train.py", "--hydra-help", "experiment=mlp_w10"],
            "--hydra-help composes Hydra's own settings only, not the train config that "
            "experiment=mlp_w10 sets; drop it, or give it to --help or --cfg job to see the "
            "train config with it.",
        ),
        (
            ["src/train.py", "--resolve", "experiment=mlp_w10"],
            "The --resolve flag can only be used in conjunction with --cfg or --help; "
            "--hydra-help lists the flags.",
        ),
    ],
)
def test_a_mistake_given_to_hydras_help_or_info_flags_is_one_sentence_and_exit_2(
    tmp_path: Path, args: list[str], sentence: str
) -> None:
    """Hydra composes for `--help`, `--hydra-help` and `--info`, and checks its flags, outside
    the function whose errors the entry points turn into a sentence: they were tracebacks, exit
    1. Nothing runs: no run folder is made."""
    from tests.reliability_helpers import assert_one_sentence_refusal

    result = run_cli([*args, f"paths.log_dir={tmp_path / 'logs'}"], tmp_path, check=False)
    assert assert_one_sentence_refusal(result) == f"error: {sentence}"
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["scripts/predict.py", "hydra.run.dir={file}"], "{file}"),
        (["src/train.py", "paths.log_dir={file}/logs"], "{file}/logs/train/runs/"),
    ],
)
def test_a_run_folder_that_is_a_file_is_one_sentence_and_exit_2(
    tmp_path: Path, args: list[str], where: str
) -> None:
    """Hydra makes the run folder before any code of ours runs: a file in its place was
    FileExistsError's or NotADirectoryError's traceback and exit status 1."""
    from tests.reliability_helpers import assert_one_sentence_refusal

    file = tmp_path / "out"
    file.write_text("not a folder")
    result = run_cli([arg.format(file=file) for arg in args], tmp_path, check=False)
    line = assert_one_sentence_refusal(result)
    assert line.startswith(f"error: cannot make or write the run folder {where.format(file=file)}")
    assert line.endswith(
        f"({file} is a file, not a folder); point hydra.run.dir, paths.log_dir or STOCKCAST_ROOT "
        "at a folder that can be written."
    )


def test_a_run_folder_this_user_cannot_write_is_one_sentence(tmp_path: Path) -> None:
    """An existing run folder this user cannot write fails as Hydra opens its log file there,
    which logging reports as a ValueError caused by the PermissionError: that was a traceback
    ending in 'Unable to configure handler', exit 1."""
    from stockcast.config.command_line import run_folder_error

    log_file = tmp_path / "run" / "predict.log"
    try:
        try:
            raise PermissionError(13, "Permission denied", str(log_file))
        except PermissionError as denied:
            raise ValueError("Unable to configure handler 'file'") from denied
    except ValueError as err:
        sentence = run_folder_error(err)
    assert sentence == (
        f"cannot make or write the run folder {tmp_path / 'run'} (permission denied); point "
        "hydra.run.dir, paths.log_dir or STOCKCAST_ROOT at a folder that can be written."
    )


def test_a_run_inside_its_run_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    """`hydra.job.chdir=true` read a relative STOCKCAST_ROOT from inside the run folder: the
    run trained and put its MLflow store in `<run folder>/<root>/mlruns.db`, and a relative
    data.path was reported as missing."""
    from tests.reliability_helpers import assert_one_sentence_refusal

    train = str(CONFIG_DIR.parent / "src" / "train.py")
    env = {**os.environ, **CLI_ENV, "STOCKCAST_ROOT": "root"}  # read from the folder run in
    command = Command((train, "hydra.job.chdir=true"), cwd=tmp_path, env=env, check=False)
    result = run_command(command, env)
    assert assert_one_sentence_refusal(result) == (
        "error: hydra.job.chdir=true would read relative paths (data.path, a relative "
        "STOCKCAST_ROOT) from inside the run folder instead of the folder you run in; drop it: "
        "every file of a run is written to its run folder (paths.output_dir) as it is."
    )
    written = {path.name for path in (tmp_path / "root").rglob("*") if path.is_file()}
    assert written == {"config.yaml", "hydra.yaml", "overrides.yaml", "train.log"}


def test_a_config_file_that_is_not_yaml_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    """PyYAML's error passes through Hydra untouched; the command names the file and line."""
    from tests.reliability_helpers import assert_one_sentence_refusal

    broken = tmp_path / "extra" / "experiment" / "broken.yaml"
    broken.parent.mkdir(parents=True)
    broken.write_text("# @package _global_\nseed: [1, 2\nmodel: {}\n")
    result = run_cli(
        [
            "src/train.py",
            "experiment=broken",
            f"hydra.searchpath=[file://{tmp_path / 'extra'}]",
            f"paths.log_dir={tmp_path / 'logs'}",
        ],
        tmp_path,
        check=False,
    )
    assert assert_one_sentence_refusal(result) == (
        f"error: the config file {broken} is not valid YAML at line 3 (expected ',' or ']', "
        "but got ':'); fix that file"
    )


@pytest.mark.parametrize(
    "text",
    [
        "/tmp/plain",
        "/tmp/led (1)",
        "/tmp/a,b=c[0]",
        "/tmp/it's",
        "C:\\dir\\",
        "C:\\x\\y",
        "a\\'b",
        "/tmp/${oc.env:HOME}",
        "/tmp/\\${x}",
        "/tmp/ünï $x {y}",
    ],
)
def test_a_quoted_override_value_reads_back_as_written(text: str) -> None:
    """Paths passed to steps and replay days as overrides: unquoted, a comma, equals sign,
    bracket or quote broke composing, and `${` was resolved as an interpolation."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from stockcast.config.overrides import hydra_quoted

    value = OverridesParser.create().parse_override(f"key={hydra_quoted(text)}").value()
    assert OmegaConf.to_container(OmegaConf.create({"key": value}), resolve=True) == {"key": text}


@pytest.mark.parametrize(
    ("overrides", "sentence"),
    [
        (
            ["hparams_search=mlp_optuna", "hydra.sweeper.n_trials=abc"],
            "hydra.sweeper.n_trials cannot take that value (Value 'abc' of type 'str' could not "
            "be converted to Integer); give a value of its type.",
        ),
        (
            ["hydra/launcher=azureml", "hydra.launcher.wait=maybe"],
            "hydra.launcher.wait cannot take that value (Value 'maybe' is not a valid bool (type "
            "str)); give a value of its type.",
        ),
        (
            ["hydra.launcher.n_jobz=2"],
            "hydra.launcher.n_jobz is not one of Hydra's settings here; the command without it, "
            "given --cfg hydra --package hydra.launcher, lists those of hydra.launcher.",
        ),
    ],
)
def test_a_mistake_in_hydras_own_settings_is_named_as_one(overrides, sentence: str) -> None:
    """Hydra's config is composed apart from the task's, so the names beside a key were looked
    up without it: every such mistake read "hydra is not a setting of the train config"."""
    from stockcast.config.compose import compose_config

    with pytest.raises(ConfigError) as caught:
        compose_config("train", overrides, return_hydra_config=True)
    assert str(caught.value) == f"cannot compose the config: {sentence}"


@pytest.mark.parametrize(
    ("script", "groups"),
    [
        (
            "src/train.py",
            [
                "callbacks: default, none",
                "data: csv, gbm, market, parquet, seasonal",
                "debug: default, fdr, limit, overfit",
                "experiment: auto, market_global, mlp_seasonal, mlp_w10, mlp_w30",
                "hparams_search: auto_optuna, mlp_optuna",
                "logger: csv, mlflow, none",
                "model: ensemble, es, ets, fitted_theta, mlp, theta",
                "optim: adam",
                "paths: default",
                "registry: azureml, local",
                "trainer: cpu, ddp, default, gpu",
            ],
        ),
        (
            "scripts/predict.py",
            [
                "guard: default",
                "input: csv, synthetic, test_split, values",
                "paths: default",
                "registry: azureml, local",
            ],
        ),
        ("scripts/serve.py", ["guard: default", "paths: default", "registry: azureml, local"]),
    ],
)
def test_help_lists_the_groups_a_user_chooses_for_that_command(
    script: str,
    groups: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Hydra's list held every folder of configs/: pieces other configs include (`data:
    _common`, `experiment_data`) and, for predict and serve, train's groups, which they refuse."""
    import runpy
    import sys

    from hydra.core.global_hydra import GlobalHydra

    monkeypatch.setattr(sys, "argv", [script, "--help"])
    try:
        runpy.run_path(str(CONFIG_DIR.parent / script), run_name="__main__")
    except SystemExit:
        pass
    finally:
        GlobalHydra.instance().clear()
    text = capsys.readouterr().out
    listed = text.split("(group=option)\n\n", 1)[1].split("\n\n== Config ==", 1)[0]
    # configs/local/ is each user's own, listed where it is made.
    assert [line for line in listed.splitlines() if not line.startswith("local:")] == groups
