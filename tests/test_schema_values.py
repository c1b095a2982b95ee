"""The config schema's values: each bad value of every command's config in one sentence, and
the numbers and yes/no words Hydra reads as text are the types the code after validation sees."""

from __future__ import annotations

import re

import numpy as np
import pytest
from omegaconf import OmegaConf

from stockcast.config.schema import validate_config
from stockcast.data.scaling import fit_scaler
from stockcast.errors import ConfigError
from stockcast.fields import INPUT_KINDS, NORMALIZATIONS
from stockcast.models.settings import LOSS_NAMES
from stockcast.prediction.inputs import INPUT_BUILDERS
from stockcast.registry.runs import label_tags


@pytest.mark.parametrize("config_name", ["train", "pipeline", "predict"])
def test_the_shipped_defaults_are_valid(make_cfg, config_name: str) -> None:
    cfg = make_cfg(config_name=config_name)
    assert validate_config(cfg) is cfg


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lr=-1"], "optim.lr is -1; it must be a number above 0."),
        (["optim.lr=0"], "optim.lr is 0; it must be a number above 0."),
        (
            ["seed=abc"],
            "seed is 'abc'; it must be a whole number from 0 to 4294967295 (numpy's seeds).",
        ),
        (
            ["trainer.max_epochs=0"],
            "trainer.max_epochs is 0; it must be a whole number of at least 1.",
        ),
        (["fit.level_members_max_outside=1.5"], "fit.level_members_max_outside is 1.5; it must"),
        (["trainer.max_steps=0"], "trainer.max_steps is 0; it must be -1 (no step limit) or"),
        (["data.previous_time_window=0"], "data.previous_time_window is 0; it must be a whole"),
        (
            ["data.previous_time_window=1"],
            "data.previous_time_window is 1; it must be a whole number of at least 2 (a band's "
            "unit is the window's one-step changes), or auto",
        ),
        (
            ["data.shortest_window=1"],
            "data.shortest_window is 1; it must be a whole number of at least 2 (a band's unit "
            "is the window's one-step changes).",
        ),
        (["data.next_time_window=-3"], "data.next_time_window is -3; it must be a whole number"),
        (
            ["data.split.test=0.5"],
            "data.split fractions sum to 1.35 (train 0.7, val 0.15, test 0.5); make them sum to 1.",
        ),
        # Hydra merges a mapping into the default: the test fraction no one gave is named.
        (
            ["data.split={train:0.7,val:0.3}"],
            "data.split fractions sum to 1.15 (train 0.7, val 0.3, test 0.15); make them sum to 1.",
        ),
        (
            ["data.split.train=1.0", "data.split.val=0.0", "data.split.test=0.0"],
            "data.split.train is 1; it must be in (0, 1)",
        ),
        (["+data.split.extra=0.1"], "data.split must give exactly ['train', 'val', 'test']"),
        (
            ["data.split=0.8"],
            "data.split is 0.8; it must name the train, val and test fractions, e.g. "
            "data.split.train=0.7 data.split.val=0.15 data.split.test=0.15.",
        ),
        (["data.split=null"], "data.split is null; it must name the train, val and test"),
        (["model.activation=swish"], "model.activation is 'swish'; choose one of 'relu'"),
        (["model.loss=hinge"], "model.loss is 'hinge'; choose one of 'mse', 'mae' or 'huber'."),
        (["model.hidden_sizes=[10,-1]"], "model.hidden_sizes is -1; it must be a list of whole"),
        # An item judged in pydantic's words for it is named by its position in the list.
        (
            ["experiment=auto", "model.candidates.1=3"],
            "model.candidates.1 is 3; it must be a valid dictionary.",
        ),
        (["model.dropout=1.0"], "model.dropout is 1; it must be in [0, 1)."),
        # Calibrated twice, the second kept: a repeated level is one band.
        (["model.interval_levels=[80,80]"], "model.interval_levels is [80, 80]; name each level"),
        (["model.window_scale_power=2"], "model.window_scale_power is 2; it must be in [0, 1]."),
        (["model.combination=median"], "model.combination is 'median'; choose one of 'mean' or"),
        (["model.combination_power=0"], "model.combination_power is 0; it must be above 0 and at"),
        (["model.quantiles=[0.1,0.9]"], "model.quantiles is [0.1, 0.9]; it must include 0.5"),
        (
            ["model.quantiles=[0.1,0.5]"],
            "model.quantiles is [0.1, 0.5]; 0.1 has no partner 0.9, so it gives no band: add 0.9",
        ),
        (
            ["model.quantiles=[0.1,0.1,0.5,0.9]"],
            "model.quantiles is [0.1, 0.1, 0.5, 0.9]; list each quantile once",
        ),
        (
            ["model.quantiles=[0.0375,0.5,0.9625]"],
            "model.quantiles is [0.0375, 0.5, 0.9625]; 0.0375 and 0.9625 give a 92.5% band, and "
            "band levels are whole percentages",
        ),
        (["data.batch_size=2.5"], "data.batch_size is 2.5; it must be a whole number above 0."),
        (["data.batch_size=1e300"], "data.batch_size is 1e+300; it must be a whole number above"),
        (
            ["trainer.max_epochs=true"],
            "trainer.max_epochs is True; it must be a whole number of at",
        ),
        (["data.length=1"], "data.length is 1; it must be a whole number of at least 2 points"),
        (
            ["data.source=yahoo"],
            "data.source is 'yahoo'; choose one of 'gbm', 'seasonal', 'market'",
        ),
        (["data=csv"], "data.path is not set; give it in the config or as an override"),
        (["data=seasonal", "data.season_length=0"], "data.season_length is 0; it must be a whole"),
        (["data.normalization=robust"], "data.normalization is 'robust'; choose one of"),
        (["data.as_of=20260630"], "data.as_of is '20260630'; it must be a date written YYYY-MM-DD"),
        (["data.as_of=null"], "data.as_of is null; it must be a date written YYYY-MM-DD"),
        # A nanosecond clock's range: 1500-01-01 wrapped round to 2182 without a word.
        (
            ["data.start_date=1500-01-01", "data.as_of=2020-01-01"],
            "data.start_date is '1500-01-01'; it must be a date from 1678-01-01 to 2261-12-31",
        ),
        # A NaN drift was refused as the data's 500 non-finite values; 1e200 overflowed.
        (["data.drift=nan"], "data.drift is nan; it must be a finite number"),
        (["data.volatility=1e200"], "data.volatility is 1e+200; it must be a daily volatility"),
        (["data=market", "data.market_volatility=2"], "data.market_volatility is 2"),
        (
            ["data=market", "data.volatility_range=[0.01,inf]"],
            "data.volatility_range is inf; it must be two finite numbers [low, high]",
        ),
        (["data.normalization=[per_window,robust]"], "data.normalization is 'robust'; choose"),
        (["data.normalization=[]"], "data.normalization is []; it must be a kind or a non-empty"),
        (
            ["data.normalization=[standard,standard]"],
            "data.normalization is ['standard', 'standard']; name each kind at most once",
        ),
        (["data.min_relative_scale=0"], "data.min_relative_scale is 0; it must be above 0 so"),
        # true read as 1.0 in pydantic's lax mode: a yes/no word is no number.
        (["data.min_relative_scale=true"], "data.min_relative_scale is True; it must be above 0"),
        (["model.huber_delta=true"], "model.huber_delta is True; it must be a number above 0."),
        # pydantic's lax int read true as one device.
        (["trainer.devices=true"], "trainer.devices is True; it must be a number of devices"),
        (["trainer.devices=[0,true]"], "trainer.devices is [0, True]; it must be a number of"),
        # A union's refusal is named by the key, not by the union member pydantic tried.
        (
            ["train.init_from=true"],
            "train.init_from is True; it must be a version number (1 or more) or an alias.",
        ),
        (["train.init_from=0"], "train.init_from is 0; it must be a version number (1 or more)"),
        (
            ["trainer.devices=0.5"],
            "trainer.devices is 0.5; it must be a number of devices (1 or more, or -1 for all), "
            "'auto' or a list of device ids.",
        ),
        (["data.split.val=abc"], "data.split.val is 'abc'; it must be in (0, 1)"),
        # Text that reads as a number: the sentence says how an environment variable's is read.
        (
            ["trainer.max_steps='30'"],
            "trainer.max_steps is '30', text; it must be a whole number: -1 (no step limit) or at "
            "least 1 (read an environment variable as a number with "
            "trainer.max_steps='${oc.decode:${oc.env:NAME}}').",
        ),
        # Lightning's own refusals came as tracebacks once the data was prepared.
        (
            ["+trainer.precision=17"],
            "trainer.precision is 17; choose one of '16-true', '16-mixed', 'bf16-true'",
        ),
        (
            ["trainer.deterministic=maybe"],
            "trainer.deterministic is 'maybe'; it must be true, false or 'warn'.",
        ),
        (
            ["+trainer.detect_anomaly=abc"],
            "trainer.detect_anomaly is 'abc'; it must be true or false.",
        ),
        (
            ["+trainer.benchmark=abc"],
            "trainer.benchmark is 'abc'; it must be true or false.",
        ),
        (
            ["+trainer.fast_dev_run=-1"],
            "trainer.fast_dev_run is -1; it must be true, false or a number of batches (0 or more).",
        ),
        (
            ["+trainer.limit_train_batches=-1"],
            "trainer.limit_train_batches is -1; it must be a number of batches (0 or more, without a "
            "decimal point) or a share of them from 0.0 to 1.0.",
        ),
        (["+trainer.overfit_batches=1.5"], "trainer.overfit_batches is 1.5; it must be a number"),
        # The fit trained and tested, then ended on "val/mase was not computed; use one of []".
        (
            ["+trainer.limit_val_batches=0"],
            "trainer.limit_val_batches is 0; the fit keeps its best checkpoint and decides its "
            "naive fallback on the validation windows, so it must be above 0 (null: all of them).",
        ),
        (["+trainer.limit_val_batches=0.0"], "trainer.limit_val_batches is 0.0; the fit keeps"),
        # It trained nothing: the untrained network fell back to the last price, silently.
        (
            ["+trainer.limit_train_batches=0"],
            "trainer.limit_train_batches is 0; the fit would make no optimizer step, so it must be "
            "above 0 (null: all of them); to train less, lower trainer.max_steps.",
        ),
        # Lightning refused these once the data was prepared; a time of 0 trained nothing.
        (
            ["+trainer.max_time={day:1}"],
            "trainer.max_time is {'day': 1}; it must be null, a duration above 0 written "
            "'DD:HH:MM:SS' (quoted in a YAML file) or a mapping of numbers of weeks, days, hours, "
            "minutes, seconds, milliseconds, microseconds such as {days: 1, hours: 12}.",
        ),
        (["+trainer.max_time=1:00:00"], "trainer.max_time is '1:00:00'; it must be null, a"),
        (["+trainer.max_time={hours:abc}"], "trainer.max_time is {'hours': 'abc'}; it must be"),
        (["+trainer.max_time=00:00:00:00"], "trainer.max_time is '00:00:00:00'; it must be"),
        (["+trainer.max_time=720"], "trainer.max_time is 720; it must be null, a duration"),
        # Lightning ran these as no minimum, no sanity check or every |n| steps, without a word.
        (
            ["trainer.min_epochs=-1"],
            "trainer.min_epochs is -1; it must be null or a whole number, 0 or more.",
        ),
        (["+trainer.min_steps=-3"], "trainer.min_steps is -3; it must be null or a whole number"),
        (
            ["trainer.log_every_n_steps=-1"],
            "trainer.log_every_n_steps is -1; it must be null or a whole number of steps, 0 "
            "(none) or more.",
        ),
        (
            ["+trainer.num_sanity_val_steps=-5"],
            "trainer.num_sanity_val_steps is -5; it must be null or a whole number of batches, 0 "
            "or more, or -1 for all of them.",
        ),
        (
            ["callbacks.early_stopping.mode=up"],
            "callbacks.early_stopping.mode is 'up'; choose one of 'min' or 'max'.",
        ),
        (
            ["callbacks.model_checkpoint.mode=lowest"],
            "callbacks.model_checkpoint.mode is 'lowest'; choose one of 'min' or 'max'.",
        ),
        (["num_threads=0"], "num_threads is 0; it must be a whole number above 0."),
        (["seed=-1"], "seed is -1; it must be a whole number from 0 to 4294967295 (numpy's seeds)"),
        (["data.seed=4294967296"], "data.seed is 4294967296; it must be a whole number from 0"),
        (
            ["optimized_metric=test/mase"],
            "optimized_metric is 'test/mase'; a sweep chooses its trials by it, so it must be a "
            "validation metric such as val/mase (the test split only scores what was chosen).",
        ),
        (
            ["optimized_metric=val/maes"],
            "optimized_metric is 'val/maes', which no fit computes; use one of val/loss, val/mae, "
            "val/rmse, val/mape, val/mase, val/naive_mase.",
        ),
    ],
)
def test_bad_training_values_are_one_sentence(make_cfg, overrides, message: str) -> None:
    for config_name in ("train", "pipeline"):
        with pytest.raises(ConfigError) as caught:
            validate_config(make_cfg(*overrides, config_name=config_name))
        assert str(caught.value).startswith(message)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("trainer.max_epochs=2.0", "trainer.max_epochs", 2),
        ("data.previous_time_window=1e3", "data.previous_time_window", 1000),
        ("model.hidden_sizes=[64.0,32]", "model.hidden_sizes", [64, 32]),
        ("seed=7.0", "data.seed", 7),  # an interpolation follows its source
    ],
)
def test_whole_numbers_written_as_floats_are_the_integers_they_write(
    make_cfg, override: str, key: str, expected: int | list[int]
) -> None:
    """Hydra reads `2.0` and `1e3` as floats; the code after validation sees ints."""
    held = OmegaConf.select(validate_config(make_cfg(override)), key)
    held = list(held) if OmegaConf.is_list(held) else held
    assert held == expected
    assert all(type(v) is int for v in (held if isinstance(held, list) else [held]))


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("monitor.rollback=no", "monitor.rollback", False),
        ("pipeline.refit=off", "pipeline.refit", False),
        ("gate.require_beat_champion='false'", "gate.require_beat_champion", False),
        ("data.require_new_data=yes", "data.require_new_data", True),
        # Lightning reads any other text than warn as true, and then skips torch's switch.
        ("trainer.deterministic=yes", "trainer.deterministic", True),
        ("+trainer.detect_anomaly=off", "trainer.detect_anomaly", False),
        # Any other text was true to Lightning: `no` drew the progress bar.
        ("trainer.enable_progress_bar=no", "trainer.enable_progress_bar", False),
        ("+trainer.inference_mode=off", "trainer.inference_mode", False),
        ("+trainer.enable_checkpointing=yes", "trainer.enable_checkpointing", True),
    ],
)
def test_words_for_yes_and_no_are_the_booleans_they_say(
    make_cfg, override: str, key: str, expected: bool
) -> None:
    """Hydra keeps `no` and `off` as text, which the schema reads as false: the code after
    validation tested the text itself, which is true (`monitor.rollback=no` rolled back)."""
    assert OmegaConf.select(validate_config(make_cfg(override, config_name="pipeline")), key) is (
        expected
    )


def test_predicts_yes_and_no_words_are_booleans_too(make_cfg) -> None:
    """`vis=no` drew forecast.png and `input.skip_refused=no` left refused series out."""
    csv = ("input=csv", "input.path=p.csv", "vis=no", "input.skip_refused=off")
    predict = validate_config(make_cfg(*csv, config_name="predict"))
    assert predict.vis is False and predict.input.skip_refused is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["gate.max_mase=-1"], "gate.max_mase is -1; it must be greater than 0."),
        (["pipeline.executor=ray"], "pipeline.executor is 'ray'; choose one of 'inprocess'"),
        (["evaluate.plot_series=-1"], "evaluate.plot_series is -1; it must be a whole number, 0"),
        # MLflow refuses a reserved alias; so does the config, before any work.
        (
            ["registry.champion_alias=v9"],
            "registry.champion_alias is 'v9', a name the store reserves; choose",
        ),
        # A yes/no word is no number: gate.max_mase=true was a gate of 1.
        (["gate.max_mase=true"], "gate.max_mase is True; it must be a valid number."),
        (
            ["monitor.ledger_timeout_s=true"],
            "monitor.ledger_timeout_s is True; it must be a number",
        ),
        # sqlite's wait is an int of milliseconds: a longer one overflowed into none at all.
        (
            ["monitor.ledger_timeout_s=3000000"],
            "monitor.ledger_timeout_s is 3000000; it must be a number of seconds above 0 and at "
            "most 2147483 (the longest wait sqlite takes).",
        ),
        (
            ["registry.champion_alias=Latest"],
            "registry.champion_alias is 'Latest', a name the store reserves",
        ),
        (
            ["registry.champion_alias='my champion'"],
            "registry.champion_alias is 'my champion'; an alias is letters",
        ),
        # A store without aliases keeps one as a tag, whose key MLflow holds to 250 characters.
        ([f"registry.champion_alias={'a' * 235}"], "_ and - (at most 234)"),
        (["registry.model_name='say \"daily\"'"], "registry.model_name is 'say \"daily\"'; a"),
        # MLflow refused these at registration, after the run's whole work, with a traceback; a
        # space broke the cloud step's command line after training; '?' cuts a models:/ URI.
        (["registry.model_name=ACME/daily"], "registry.model_name is 'ACME/daily'; a regist"),
        (["registry.model_name='a:b'"], "registry.model_name is 'a:b'; a registered model name"),
        (["registry.model_name=..daily"], "registry.model_name is '..daily'; a registered model"),
        (["registry.model_name=' '"], "registry.model_name is ' '; a registered model name is"),
        (["registry.model_name='a b'"], "registry.model_name is 'a b'; a registered model name"),
        (["registry.model_name='a?b'"], "registry.model_name is 'a?b'; a registered model name"),
        # Blank or padded, the monitor's runs went to an experiment no one finds by its name.
        (
            ["monitor.experiment_name=' '"],
            "monitor.experiment_name is ' '; it must be an MLflow experiment name on one line, "
            "without spaces at either end.",
        ),
        (["monitor.experiment_name='daily '"], "monitor.experiment_name is 'daily '; it must be"),
        # MLflow refused an empty one only after the fit, as a store it could not open.
        (
            ["logger.mlflow.experiment_name=''"],
            "logger.mlflow.experiment_name is ''; it must be an MLflow experiment name on one line",
        ),
        (
            ["registry.experiment_name=' '"],
            "registry.experiment_name is ' '; it must be an MLflow experiment name on one line, "
            "without spaces at either end, or null.",
        ),
        # Each label is a tag key of the runs: MLflow refused these as a run started, in a
        # traceback after the data was prepared.
        (["tags=[stockcast,'a(b)']"], "tags.1 is 'a(b)'; a label is letters, digits, '_', '.'"),
        (["tags=[..x]"], "tags.0 is '..x'; a label is letters"),
        ([f"tags=[{'a' * 251}]"], "starting with a letter or digit (at most 250)."),
        (
            ["tags=[1.5]"],
            "tags.0 is 1.5, read as a number; it must be a valid string: write it as '1.5' in "
            "the list.",
        ),
    ],
)
def test_bad_pipeline_values_are_one_sentence(make_cfg, overrides, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(make_cfg(*overrides, config_name="pipeline"))


def test_run_labels_may_hold_spaces_and_numbers(make_cfg) -> None:
    """What MLflow takes as a tag key on every system passes; a number reads as its digits."""
    cfg = validate_config(make_cfg("tags=[stockcast,'my run',v1.2-rc_3,2024]"))
    assert label_tags(cfg.tags) == dict.fromkeys(
        ["stockcast", "my run", "v1.2-rc_3", "2024"], "true"
    )


def test_a_coverage_gate_over_a_model_without_bands_is_refused_before_any_work(make_cfg) -> None:
    """The register step refused it only after prepare, the fit, evaluate and the refit."""
    with pytest.raises(ConfigError) as refused:
        validate_config(
            make_cfg(
                "gate.max_coverage_gap=0.1", "model.interval_levels=[]", config_name="pipeline"
            )
        )
    assert str(refused.value) == (
        "gate.max_coverage_gap is 0.1, which judges the model's bands, and the model gives none "
        "(no model.interval_levels, and no pair of model.quantiles): give it some, or set "
        "gate.max_coverage_gap=null."
    )
    quantile_bands = ("model.interval_levels=[]", "model.quantiles=[0.1,0.5,0.9]")
    for fine in (
        ("gate.max_coverage_gap=0.1", *quantile_bands),
        ("gate.max_coverage_gap=null", "model.interval_levels=[]"),
        ("gate.max_coverage_gap=0.1",),
    ):
        validate_config(make_cfg(*fine, config_name="pipeline"))
    validate_config(make_cfg("model.interval_levels=[]"))  # train has no gate


def test_a_coverage_gate_over_a_median_only_quantile_model_names_its_quantiles(make_cfg) -> None:
    """model.interval_levels [80, 95] was set, and the refusal said there were none and to give
    some: a quantile model's bands are its pairs, so giving levels changed nothing."""
    with pytest.raises(ConfigError) as refused:
        validate_config(
            make_cfg("gate.max_coverage_gap=0.1", "model.quantiles=[0.5]", config_name="pipeline")
        )
    assert str(refused.value) == (
        "gate.max_coverage_gap is 0.1, which judges the model's bands, and model.quantiles "
        "[0.5] gives none (a quantile model's bands are its pairs q and 1 - q, not "
        "model.interval_levels): add a pair such as 0.1 and 0.9, set model.quantiles=[] for "
        "bands at model.interval_levels, or set gate.max_coverage_gap=null."
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["mode=guess"], "mode is 'guess'; choose one of 'forecast' or 'backtest'."),
        (["input.kind=stdin"], "input.kind is 'stdin'; choose one of 'values'"),
        (["previous_time_window=abc"], "previous_time_window is 'abc'; it must be"),
        (["model.version=0"], "model.version is 0; it must be a version number."),
        # An alias of digits or a yes/no word reached the schema as a number or a boolean, and
        # the refusal did not say that quoting it makes it text.
        (
            ["model.alias=123"],
            "model.alias is 123, read as a number; it must be a registered model alias: quote "
            "it (model.alias=\"'123'\" on the command line, '123' in a YAML file).",
        ),
        # An empty alias was looked up in the store: "has no alias ''".
        *(
            (
                [empty],
                "model.alias is empty; give an alias the model's versions hold, e.g. "
                "model.alias=champion, or leave it out (null) for the version holding "
                "model.default_alias.",
            )
            for empty in ("model.alias=", "model.alias=' '")
        ),
        (["model.default_alias=true"], "model.default_alias is true, read as a boolean;"),
        # An empty default alias was taken as null: the latest version, without a word.
        *(
            (
                [empty],
                "model.default_alias is empty; give the alias of the version to open when "
                "neither model.version nor model.alias is set, e.g. "
                "model.default_alias=champion, or null for the latest version.",
            )
            for empty in ("model.default_alias=", "model.default_alias=' '")
        ),
        (["backtest.span=0"], "backtest.span is 0; it must be a whole number above 0."),
        # A column named by digits was looked up as a number: the file's refusal named the
        # column '2024' to set, which the same override cannot.
        *(
            (
                ["input=csv", "input.path=p.csv", f"input.{key}=2024"],
                f"input.{key} is 2024, read as a number; it must be a valid string: quote it "
                f"(input.{key}=\"'2024'\" on the command line, '2024' in a YAML file).",
            )
            for key in ("id_column", "value_column", "date_column")
        ),
        (["input.seed=-1"], "input.seed is -1; it must be a whole number from 0 to 4294967295"),
        # A quote broke the store's search filter: a traceback.
        (["model.name='it\\'s'"], 'model.name is "it\'s"; a registered model name is letters'),
    ],
)
def test_bad_predict_values_are_one_sentence(make_cfg, overrides, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(make_cfg(*overrides, config_name="predict"))
    assert str(caught.value).startswith(message)


def test_an_ipv6_serve_host_in_brackets_says_how_to_write_it(make_cfg) -> None:
    """serve.host=[::1], as a URL writes the address, reached the schema as a list and was
    refused as "serve.host is ['::1']", without a word on the brackets; both ways it names
    pass."""
    with pytest.raises(ConfigError) as refused:
        validate_config(make_cfg("serve.host=[::1]", config_name="serve"))
    assert str(refused.value) == (
        "serve.host is [::1], read as a list; it must be a host name or address: write the "
        "address without its brackets (serve.host=::1), or quote it (serve.host=\"'[::1]'\" on "
        "the command line)."
    )
    for written in ("serve.host=::1", "serve.host='[::1]'"):
        validate_config(make_cfg(written, config_name="serve"))
    # Brackets around anything but an IPv6 address are no address's: no advice about them.
    with pytest.raises(ConfigError) as refused:
        validate_config(make_cfg("model.name=[a:b]", config_name="serve"))
    assert str(refused.value) == "model.name is ['a:b']; it must be a registered model name."


def test_names_the_schema_accepts_are_the_names_the_code_builds() -> None:
    assert set(INPUT_KINDS) == set(INPUT_BUILDERS)
    for kind in NORMALIZATIONS:
        assert fit_scaler(kind, np.arange(5.0), 1e-4)["kind"] == kind
    from stockcast.training.losses import make_loss

    for name in LOSS_NAMES:
        make_loss(name)


def _number_fields(model: type, path: str = "") -> list[tuple[str, bool]]:
    """Every number setting under `model` (a schema section), with whether it refuses true
    and false (a float marked strict), found through unions, lists and nested sections."""
    import typing

    from pydantic import BaseModel, Strict

    found: list[tuple[str, bool]] = []

    def walk(annotation: object, where: str, strict: bool) -> None:
        if annotation is float:
            found.append((where, strict))
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.extend(_number_fields(annotation, f"{where}."))
        elif typing.get_origin(annotation) is typing.Annotated:
            inner, *metadata = typing.get_args(annotation)
            walk(inner, where, strict or any(isinstance(m, Strict) and m.strict for m in metadata))
        else:
            for argument in typing.get_args(annotation):
                walk(argument, where, strict)

    for name, field in model.model_fields.items():
        # pydantic keeps a field's own Annotated metadata apart from its annotation.
        strict = any(isinstance(m, Strict) and m.strict for m in field.metadata)
        walk(field.annotation, f"{path}{name}", strict)
    return found


def test_every_number_setting_refuses_a_yes_or_no_word() -> None:
    """pydantic's lax float reads true as 1.0: `gate.max_mase=true` was a gate of 1. Every
    number setting of every config and model kind is strict (whole numbers stay numbers)."""
    from stockcast.config.client_sections import PredictConfig, ServeConfig
    from stockcast.config.pipeline_sections import PipelineConfig, ReplayConfig
    from stockcast.config.sections import TrainConfig
    from stockcast.models.kind import builtin_kinds, model_kind

    schemas = [TrainConfig, PipelineConfig, ReplayConfig, PredictConfig, ServeConfig]
    schemas += [model_kind(kind).settings for kind in builtin_kinds()]
    fields = [field for schema in schemas for field in _number_fields(schema)]
    assert len(fields) > 30, "the walk finds the number settings"
    assert [path for path, strict in fields if not strict] == []


def test_a_number_from_the_environment_is_read_as_the_refusal_says(
    make_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every environment variable is text, which a number setting refuses (pydantic's lax
    float read it as one before the settings were made strict); the refusal gives the way."""
    monkeypatch.setenv("MAX_MASE", "1.5")
    with pytest.raises(ConfigError) as refused:
        validate_config(make_cfg("gate.max_mase=${oc.env:MAX_MASE}", config_name="pipeline"))
    advice = str(refused.value).split(" with ", 1)[1].removesuffix(").")
    assert advice == "gate.max_mase='${oc.decode:${oc.env:NAME}}'"
    override = advice.replace("NAME", "MAX_MASE")
    assert validate_config(make_cfg(override, config_name="pipeline")).gate.max_mase == 1.5


def test_the_longest_ledger_wait_sqlite_takes_is_accepted(make_cfg) -> None:
    """2147483 s is the longest wait whose milliseconds fit sqlite's int; one more overflowed."""
    validate_config(make_cfg("monitor.ledger_timeout_s=2147483", config_name="pipeline"))
    with pytest.raises(ConfigError, match="at most 2147483"):
        validate_config(make_cfg("monitor.ledger_timeout_s=2147483.5", config_name="pipeline"))
