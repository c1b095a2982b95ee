"""What an Optuna search draws from and the stored study it adds to: the search space, and
the study refusing trials that would not compare with its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from stockcast.errors import ConfigError
from stockcast.orchestration.sweeps.search_space import parse_search_space


def test_search_space_from_params_and_command_line() -> None:
    space = parse_search_space(
        {
            "optim.lr": "tag(log, interval(1e-4, 1e-2))",
            "model.hidden_sizes": "choice([64,64],[128,128])",
            "data.previous_time_window": "choice(5, 10)",
            "model.dropout": "interval(0.0, 0.3)",
        },
        ["model.dropout=0.1", "trainer.max_epochs=tag(int, interval(1, 3))", "data.length=300"],
    )
    dists = space.distributions
    assert dists["optim.lr"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert dists["model.hidden_sizes"] == CategoricalDistribution(["[64,64]", "[128,128]"])
    assert dists["data.previous_time_window"] == CategoricalDistribution([5, 10])
    assert dists["trainer.max_epochs"] == IntDistribution(1, 3)
    assert "model.dropout" not in dists, "a plain command-line value pins the parameter"
    assert space.fixed == ["model.dropout=0.1", "data.length=300"]
    overrides = space.trial_overrides(
        {"optim.lr": 0.001, "model.hidden_sizes": "[64,64]", "data.previous_time_window": 5}
    )
    assert overrides[:3] == [
        "optim.lr=0.001",
        "model.hidden_sizes=[64,64]",
        "data.previous_time_window=5",
    ]


def test_hydras_int_cast_of_an_interval_samples_whole_numbers() -> None:
    """`int(interval(2, 12))`, Hydra's cast, sampled floats, which an int key refused in every
    trial (`model.lags is 5.7...; it must be a valid integer`)."""
    space = parse_search_space(
        {"model.lags": "int(interval(2, 12))", "optim.lr": "tag(log, int(interval(1, 8)))"}, []
    )
    assert space.distributions["model.lags"] == IntDistribution(2, 12)
    assert space.distributions["optim.lr"] == IntDistribution(1, 8, log=True)
    assert parse_search_space({"x": "interval(2, 12)"}, []).distributions["x"] == (
        FloatDistribution(2.0, 12.0)
    )


def test_search_space_refuses_glob_sweeps() -> None:
    with pytest.raises(ConfigError, match="choice"):
        parse_search_space({}, ["model=glob(*)"])


def test_an_interval_optuna_cannot_draw_from_is_one_sentence() -> None:
    """Optuna's ValueError for these was a traceback as the sweep started."""
    with pytest.raises(ConfigError) as refused:
        parse_search_space({}, ["model.dropout=interval(0.3,0)"])
    assert str(refused.value) == (
        "model.dropout=interval(0.3,0): its low end 0.3 is above its high end 0.0; give "
        "interval(low, high) with low at most high."
    )
    with pytest.raises(ConfigError) as refused:
        parse_search_space({"optim.lr": "tag(log, interval(0, 1e-2))"}, [])
    assert str(refused.value) == (
        "optim.lr=tag(log, interval(0, 1e-2)): a log scale needs a low end above 0, not 0.0; "
        "give a positive low end or drop tag(log, ...)."
    )
    with pytest.raises(ConfigError, match="its low end 4 is above its high end 1"):
        parse_search_space({}, ["data.previous_time_window=int(interval(4,1))"])
    # A range of one value is drawn from.
    assert parse_search_space({}, ["model.dropout=interval(0.1,0.1)"]).distributions


def test_a_stored_study_searched_over_other_choices_is_refused_in_one_sentence(
    tmp_path: Path,
) -> None:
    import optuna

    from hydra_plugins.stockcast_optuna_sweeper.optuna_sweeper import OptunaSweeper

    storage = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(storage=storage, study_name="s")
    old = {"data.normalization": CategoricalDistribution(["per_window", "standard"])}
    study.tell(study.ask(old), 1.0)
    sweeper = OptunaSweeper(None, "minimize", storage, "s", 1, 1, 0, {})
    new = {"data.normalization": CategoricalDistribution(["[per_window,standard]", "standard"])}
    with pytest.raises(ConfigError) as refused:
        sweeper._ask(study, new)
    assert str(refused.value) == (
        f"study 's' in {storage} was searched over other choices for data.normalization than "
        "hydra.sweeper.params now gives; pass a new hydra.sweeper.study_name to start a fresh "
        "search."
    )
    # The same choices ask as before.
    assert sweeper._ask(study, old).params["data.normalization"] in ("per_window", "standard")
    # A log scale switched off for a parameter is refused the same way.
    study.tell(study.ask({"optim.lr": FloatDistribution(1e-4, 1e-2, log=True)}), 1.0)
    with pytest.raises(ConfigError, match=r"was searched with another scale \(log or linear\)"):
        sweeper._ask(study, {"optim.lr": FloatDistribution(1e-4, 1e-2)})

    class Failing:
        def ask(self, distributions: dict) -> None:
            raise ValueError("another problem")

    # Any other error of Optuna's is not mistaken for a changed choice list.
    with pytest.raises(ValueError, match="another problem"):
        sweeper._ask(Failing(), old)


def test_a_stored_study_searched_with_another_kind_of_values_is_refused_before_a_trial(
    tmp_path: Path,
) -> None:
    """A range where the study drew from a choice (or whole numbers where it drew floats) was
    Optuna's ValueError as a traceback, and left the trial it asked RUNNING in the study."""
    import optuna

    from hydra_plugins.stockcast_optuna_sweeper.optuna_sweeper import OptunaSweeper

    storage = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(storage=storage, study_name="s")
    study.tell(study.ask({"model.dropout": FloatDistribution(0.0, 0.3)}), 1.0)
    sweeper = OptunaSweeper(None, "minimize", storage, "s", 1, 1, 0, {})
    new = {"model.dropout": CategoricalDistribution([0.1, 0.2])}
    with pytest.raises(ConfigError) as refused:
        sweeper._check_space(study, new)
    assert str(refused.value) == (
        f"study 's' in {storage} was searched with another kind of values (a choice, a range, "
        "whole numbers) for model.dropout than hydra.sweeper.params now gives; pass a new "
        "hydra.sweeper.study_name to start a fresh search."
    )
    with pytest.raises(ConfigError, match="another kind of values"):
        sweeper._ask(study, {"model.dropout": IntDistribution(0, 3)})
    # A new range of the same kind, and a key the study never searched, pass.
    sweeper._check_space(study, {"model.dropout": FloatDistribution(0.0, 0.5)})
    sweeper._check_space(study, {"optim.lr": CategoricalDistribution([1e-3])})


def test_a_study_resumed_with_other_overrides_is_refused(tmp_path: Path) -> None:
    """Trials on another data file or experiment joined the study under the same name, and its
    best trial could be one trained on other data."""
    from hydra_plugins.stockcast_optuna_sweeper.study import FIXED_OVERRIDES_ATTR, open_study

    storage = f"sqlite:///{tmp_path}/study.db"
    sampler = {"_target_": "optuna.samplers.RandomSampler"}
    first = ["data=csv", "data.path=a.csv"]
    study = open_study(storage, "s", "minimize", sampler, first)
    study.tell(study.ask({"x": FloatDistribution(0, 1)}), 1.0)
    assert len(open_study(storage, "s", "minimize", sampler, first[::-1]).trials) == 1
    with pytest.raises(ConfigError) as refused:
        open_study(storage, "s", "minimize", sampler, ["data=csv", "data.path=b.csv"])
    assert str(refused.value) == (
        f"study 's' in {storage} was searched with the overrides data.path=a.csv data=csv, this "
        "sweep gives data.path=b.csv data=csv: trials on other data or settings do not compare; "
        "give the same overrides to add trials, or a new hydra.sweeper.study_name."
    )
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.storage sqlite:////proc/x/s.db cannot"):
        open_study("sqlite:////proc/x/s.db", "s", "minimize", sampler, [])
    # What changes nothing a trial scores (logging, console output) may change.
    assert open_study(storage, "s", "minimize", sampler, [*first, "logger=csv"]).trials
    # A warm start changes every trial's starting weights: its scores do not compare.
    with pytest.raises(
        ConfigError, match=r"this sweep gives data\.path=a\.csv data=csv train\.init"
    ):
        open_study(storage, "s", "minimize", sampler, [*first, "train.init_from=champion"])
    # A record from before unscored keys were left out is read as it would be written now.
    study.set_user_attr(FIXED_OVERRIDES_ATTR, sorted([*first, "logger=csv"]))
    assert open_study(storage, "s", "minimize", sampler, first).trials


def test_a_sweep_pins_its_data_day_and_a_later_days_run_is_refused(tmp_path: Path) -> None:
    """data.as_of defaults to today: the same command run on a later day trained on other data
    and added its trials to the study, whose best trial then compared scores of two datasets."""
    from omegaconf import OmegaConf

    from hydra_plugins.stockcast_optuna_sweeper.study import (
        FIXED_OVERRIDES_ATTR,
        open_study,
        pinned_data_day,
    )

    config = OmegaConf.create({"data": {"as_of": "2026-12-01"}})
    assert pinned_data_day(config, parse_search_space({}, ["data=csv"])) == [
        "data.as_of=2026-12-01"
    ]
    assert pinned_data_day(config, parse_search_space({}, ["data.as_of=2020-01-01"])) == []
    # A searched day is each trial's own: pinned after it, today's would win.
    searched = parse_search_space({"data.as_of": "choice(2026-01-30,2026-06-30)"}, [])
    assert pinned_data_day(config, searched) == []
    assert pinned_data_day(OmegaConf.create({"x": 1}), parse_search_space({}, [])) == []
    storage = f"sqlite:///{tmp_path}/study.db"
    sampler = {"_target_": "optuna.samplers.RandomSampler"}
    first = ["data=seasonal", "data.as_of=2026-12-01"]
    study = open_study(storage, "s", "minimize", sampler, first)
    study.tell(study.ask({"x": FloatDistribution(0, 1)}), 1.0)
    with pytest.raises(ConfigError, match=r"this sweep gives data\.as_of=2026-12-02 data=seas"):
        open_study(storage, "s", "minimize", sampler, ["data=seasonal", "data.as_of=2026-12-02"])
    # A study recorded before the day was pinned does not know its day: not refused for it.
    study.set_user_attr(FIXED_OVERRIDES_ATTR, ["data=seasonal"])
    assert open_study(storage, "s", "minimize", sampler, first).trials


def test_a_search_over_experiments_leaves_each_its_own_data_day() -> None:
    """An experiment may set its own data.as_of (a backfill day): the sweep's day, given to
    every trial as an override, replaced it where the search picks the experiment
    (`experiment=choice(a,b)`) or the data config. The study still records the day."""
    from omegaconf import OmegaConf

    from hydra_plugins.stockcast_optuna_sweeper.study import day_given_to_trials, pinned_data_day

    choices = {"experiment": None, "data": "gbm", "model": "mlp"}
    config = OmegaConf.create(
        {"data": {"as_of": "2026-12-01"}, "hydra": {"runtime": {"choices": choices}}}
    )
    pinned = ["data.as_of=2026-12-01"]
    for searched in ("experiment=choice(a,b)", "data=choice(gbm,csv)"):
        space = parse_search_space({}, [searched, "optim.lr=interval(1e-4,1e-2)"])
        assert pinned_data_day(config, space) == pinned
        assert day_given_to_trials(config, space, pinned) == []
    space = parse_search_space({}, ["experiment=a", "optim.lr=interval(1e-4,1e-2)"])
    assert day_given_to_trials(config, space, pinned) == pinned


def test_a_study_without_a_scored_trial_takes_the_overrides_of_its_next_run(
    tmp_path: Path,
) -> None:
    """A first run whose every trial failed (a misspelt data.path) locked the study to it; a
    study from before the record existed took any overrides for ever."""
    import optuna

    from hydra_plugins.stockcast_optuna_sweeper.study import FIXED_OVERRIDES_ATTR, open_study

    storage = f"sqlite:///{tmp_path}/study.db"
    sampler = {"_target_": "optuna.samplers.RandomSampler"}
    study = open_study(storage, "s", "minimize", sampler, ["data.path=prices.cvs"])
    study.tell(study.ask({"x": FloatDistribution(0, 1)}), state=optuna.trial.TrialState.FAIL)
    study = open_study(storage, "s", "minimize", sampler, ["data.path=prices.csv"])
    assert study.user_attrs[FIXED_OVERRIDES_ATTR] == ["data.path=prices.csv"]

    old = optuna.create_study(storage=storage, study_name="old")
    old.tell(old.ask({"x": FloatDistribution(0, 1)}), 1.0)
    open_study(storage, "old", "minimize", sampler, ["data.path=a.csv"])
    with pytest.raises(ConfigError, match=r"was searched with the overrides data\.path=a\.csv"):
        open_study(storage, "old", "minimize", sampler, ["data.path=b.csv"])
