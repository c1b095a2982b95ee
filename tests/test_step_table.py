"""The step table drives the local runner: real rows wire by port name, and one extra row (the
dummy `publish` step) runs after them with no change to the runner."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from omegaconf import DictConfig

from stockcast.errors import ConfigError, StockcastError
from stockcast.evaluation.reports import REPORT_FILE
from stockcast.orchestration.monitor_rerun import pipeline_goes_on
from stockcast.orchestration.runner import run_pipeline
from stockcast.orchestration.step_run import (
    StepFailed,
    StepTiming,
    port_bindings,
    run_step_inprocess,
    step_command,
)
from stockcast.orchestration.steps.run_folders import step_folders
from stockcast.orchestration.steps.table import (
    DECISION_FILE,
    STEPS,
    URI_FOLDER,
    Port,
    Step,
    check_table,
    wiring,
)
from tests.conftest import FAST_OVERRIDES, hydra_conf, hydra_held, isolated_overrides, run_task
from tests.dummy_step import PUBLISH_STEP, PUBLISHED_FILE

PIPELINE_KEYS = {"prepare", "train", "evaluate", "refit", "register", "monitor"} | {
    "data",
    "model",
    "registry",
}


def test_the_real_table_wires_by_port_name() -> None:
    assert [step.name for step in STEPS] == [
        "prepare",
        "train",
        "evaluate",
        "refit",
        "register",
        "monitor",
    ]
    assert wiring(STEPS) == {
        "prepare": {},
        "train": {"prepared": "prepare"},
        "evaluate": {"model": "train", "prepared": "prepare"},
        "refit": {
            "model": "train",
            "prepared": "prepare",
            "train_output": "train",
            "report": "evaluate",
        },
        "register": {"candidate": "refit", "report": "evaluate"},
        "monitor": {"prepared": "prepare", "decision": "register"},
    }


def test_a_table_that_reads_what_nobody_wrote_or_repeats_a_step_is_refused() -> None:
    orphan = Step("orphan", "x:y", "reads a folder no step writes", (Port("x", URI_FOLDER, "o.x"),))
    with pytest.raises(ValueError, match="reads 'x', which no step before it writes"):
        check_table((*STEPS, orphan))
    with pytest.raises(ValueError, match="'train' appears twice"):
        check_table((*STEPS, STEPS[1]))
    with pytest.raises(ValueError, match="kind 'csv'"):
        Port("p", "csv", "k")


# The configs the `capture` step below was called with.
CAPTURED: list[DictConfig] = []


def capture(cfg: DictConfig) -> None:
    CAPTURED.append(cfg)


def test_a_step_run_in_process_reads_the_config_as_its_entry_point_does(tmp_path: Path) -> None:
    """The in-process runner called each step with the config Hydra parsed, never validated:
    `monitor.rollback=no` reached the monitor as the text 'no', which as a condition is true, so
    it rolled back where told not to; `trainer.max_steps=1e3` stayed a float. A step's own
    section (named by its ports) is accepted, as its entry point accepts it."""
    step = Step(
        "capture",
        f"{__name__}:capture",
        "Keep the config it is called with (a test step).",
        outputs=(Port("captured", URI_FOLDER, "capture.output_dir"),),
    )
    overrides = [
        *isolated_overrides(tmp_path),
        "monitor.rollback=no",
        "fit.naive_fallback=off",
        "trainer.max_steps=1e3",
        f"+capture.output_dir={tmp_path / 'captured'}",
    ]
    CAPTURED.clear()
    run_step_inprocess(step, overrides, tmp_path / "capture")
    (cfg,) = CAPTURED
    assert cfg.monitor.rollback is False and cfg.fit.naive_fallback is False
    assert cfg.trainer.max_steps == 1000 and isinstance(cfg.trainer.max_steps, int)
    assert cfg.capture.output_dir == str(tmp_path / "captured")
    with pytest.raises(StockcastError, match=r"monitor\.rollback"):
        run_step_inprocess(step, [*overrides, "monitor.rollback=sometimes"], tmp_path / "again")


def test_folders_and_bindings_of_an_extra_row(tmp_path: Path) -> None:
    steps = (*STEPS, PUBLISH_STEP)
    folders = step_folders(tmp_path, steps)
    assert folders["publish"] == {
        "report": tmp_path / "evaluate" / "report",
        "published": tmp_path / "publish" / "published",
    }
    assert folders["register"]["candidate"] == tmp_path / "refit" / "candidate"
    # A step with its own config section binds plain keys; one without adds them with `+`.
    assert port_bindings(STEPS[2], folders["evaluate"], PIPELINE_KEYS) == [
        f"evaluate.model_dir='{tmp_path / 'train' / 'model'}'",
        f"evaluate.prepared_dir='{tmp_path / 'prepare' / 'prepared'}'",
        f"evaluate.output_dir='{tmp_path / 'evaluate' / 'report'}'",
    ]
    command = step_command(PUBLISH_STEP, tmp_path, ["seed=3"], folders["publish"], PIPELINE_KEYS)
    assert command[1:4] == ["-m", "tests.dummy_step", "seed=3"]
    assert command[-2:] == [
        f"+publish.report_dir='{tmp_path / 'evaluate' / 'report'}'",
        f"+publish.output_dir='{tmp_path / 'publish' / 'published'}'",
    ]


@pytest.mark.slow
def test_the_local_runner_runs_the_real_table_plus_one_row(seeded_tmp: Path) -> None:
    run_dir = seeded_tmp / "run"
    overrides = [*FAST_OVERRIDES, *isolated_overrides(seeded_tmp)]
    timings = run_pipeline(
        run_dir, overrides, PIPELINE_KEYS, "inprocess", steps=(*STEPS, PUBLISH_STEP)
    )
    assert [t.name for t in timings] == [*(step.name for step in STEPS), "publish"]
    report = json.loads((run_dir / "evaluate" / "report" / REPORT_FILE).read_text())
    published = json.loads((run_dir / "publish" / "published" / PUBLISHED_FILE).read_text())
    assert published == {"gate": report["gate"]}
    assert (run_dir / "register" / "decision" / DECISION_FILE).is_file()
    for step in (*STEPS, PUBLISH_STEP):
        written = {path.name for path in (run_dir / step.name).rglob("*")}
        assert set(step.writes) <= written, f"{step.name} wrote {sorted(written)}"


def record_folders(cfg: DictConfig) -> None:
    """A step that writes down the folders its config was composed with."""
    seen = {"output_dir": cfg.paths.output_dir, "port": cfg.record.output_dir}
    (Path(cfg.paths.output_dir) / "seen.json").write_text(json.dumps(seen))


RECORD_STEP = Step(
    "record",
    "tests.test_step_table:record_folders",
    "Write down the folders the step was given (a test step).",
    outputs=(Port("recorded", URI_FOLDER, "record.output_dir"),),
)


def test_a_pipeline_in_a_folder_of_any_name_gives_its_steps_their_folders(
    tmp_path: Path,
) -> None:
    """The step's own folder and its ports were passed to Hydra unquoted: a run folder named
    with a bracket, comma, equals sign, quote or `${` failed every step."""
    run_dir = tmp_path / "run (1),x=${y}'s"
    run_pipeline(
        run_dir, isolated_overrides(tmp_path), PIPELINE_KEYS, "inprocess", steps=(RECORD_STEP,)
    )
    seen = json.loads((run_dir / "record" / "seen.json").read_text())
    assert seen == {
        "output_dir": str(run_dir / "record"),
        "port": str(run_dir / "record" / "recorded"),
    }


@pytest.mark.parametrize("step", [step.name for step in STEPS])
def test_an_output_folder_in_a_file_is_refused_before_any_step_runs(
    step: str, tmp_path: Path
) -> None:
    """Each step's outputs, not the refit's alone: a folder that is a file (or lies inside one)
    failed half-way with the operating system's error."""
    from stockcast.errors import ArtifactError
    from stockcast.orchestration.steps.table import step_named
    from stockcast.orchestration.steps.table_step import table_step
    from tests.conftest import compose_config

    (tmp_path / "a_file").write_text("")
    port = step_named(step).outputs[0]
    cfg = compose_config(
        "pipeline", [f"{port.key}={tmp_path / 'a_file' / 'out'}"], tmp_path / "store"
    )
    ran: list[DictConfig] = []
    with pytest.raises(ArtifactError, match=rf"^{port.key} .*a_file/out is a file or inside one"):
        table_step(step)(ran.append)(cfg)
    assert ran == []


@pytest.mark.parametrize("step", [step.name for step in STEPS if step.inputs])
def test_an_output_folder_inside_an_input_folder_is_refused_before_the_step_runs(
    step: str, tmp_path: Path
) -> None:
    """evaluate.output_dir inside evaluate.model_dir wrote the report into the model folder:
    the model's hash changed, and the register step's advice to evaluate it again could never
    be followed, as each evaluation changed it again."""
    from stockcast.errors import ArtifactError
    from stockcast.orchestration.steps.table import step_named
    from stockcast.orchestration.steps.table_step import table_step
    from tests.conftest import compose_config

    read, written = step_named(step).inputs[0], step_named(step).outputs[0]
    ran: list[DictConfig] = []
    for folder in (tmp_path / "in", tmp_path / "in" / "out"):
        cfg = compose_config(
            "pipeline",
            [f"{read.key}={tmp_path / 'in'}", f"{written.key}={folder}"],
            tmp_path / "store",
        )
        with pytest.raises(ArtifactError) as refused:
            table_step(step)(ran.append)(cfg)
        assert str(refused.value) == (
            f"{written.key} {folder} is {read.key}'s folder or lies inside it, so the step "
            "would write into a folder it reads; point it at a folder of its own."
        )
    assert ran == []
    # Beside the folder it reads, the step runs (above it, a model folder, which is replaced
    # whole, is refused too: test_a_model_folder_over_another_folder_of_its_step_is_refused).
    cfg = compose_config(
        "pipeline",
        [f"{read.key}={tmp_path / 'in'}", f"{written.key}={tmp_path / 'out'}"],
        tmp_path / "store",
    )
    table_step(step)(ran.append)(cfg)
    assert len(ran) == 1


@pytest.mark.parametrize(
    ("step", "key"), [(step.name, port.key) for step in STEPS for port in step.outputs]
)
def test_an_output_folder_that_cannot_be_made_is_refused_before_the_step_works(
    step: str, key: str, tmp_path: Path
) -> None:
    """Each step's outputs, worded as one: prepare read the data first and then ended in mkdir's
    FileNotFoundError, the others in the first write's traceback after their work (or in a
    refusal of their inputs, which are not read here)."""
    from stockcast.orchestration.steps.table import step_named

    folder = Path("/proc/stockcast-output")
    overrides = [*isolated_overrides(tmp_path), *FAST_OVERRIDES, f"{key}={folder}"]
    with pytest.raises(ConfigError) as refused:
        run_task(step_named(step).function, "pipeline", overrides, tmp_path / "run")
    assert str(refused.value) == (
        f"cannot write the {step} step's output to {key} {folder} (no such file or directory); "
        "point it at a folder this user can write."
    )


@pytest.mark.parametrize(
    ("step", "model", "other", "inside"),
    [
        ("train", "train.model_dir", "train.prepared_dir", "prepared"),
        ("refit", "refit.output_dir", "refit.model_dir", "model"),
    ],
)
def test_a_model_folder_over_another_folder_of_its_step_is_refused(
    step: str, model: str, other: str, inside: str, tmp_path: Path
) -> None:
    """A model output folder is replaced whole: train.model_dir holding train.prepared_dir
    deleted the prepared data once the fit was saved, refit.output_dir holding refit.model_dir
    the evaluated model (the same folder is refused as an output in an input,
    test_an_output_folder_inside_an_input_folder_is_refused_before_the_step_runs)."""
    from stockcast.orchestration.steps.table import step_named

    folder = tmp_path / "work"
    held = folder / inside
    overrides = [*isolated_overrides(tmp_path), *FAST_OVERRIDES, f"{model}={folder}"]
    with pytest.raises(ConfigError) as refused:
        run_task(step_named(step).function, "pipeline", [*overrides, f"{other}={held}"], tmp_path)
    assert str(refused.value) == (
        f"{model} {folder} is or holds {other} {held}, which writing the model would delete (its "
        f"folder is replaced whole); point {model} at a folder of its own."
    )


def test_prepare_into_a_given_folder_makes_no_table_folder(tmp_path: Path) -> None:
    """The train task (and a benchmark) prepares into its own folder: the step table's folder
    under paths.output_dir is neither bound nor made."""
    from stockcast.orchestration.steps.prepare import run_prepare
    from tests.conftest import compose_config

    cfg = compose_config("pipeline", list(FAST_OVERRIDES), tmp_path / "store")
    folder = run_prepare(cfg, tmp_path / "prepared")
    assert (folder / "meta.json").is_file()
    assert not (tmp_path / "store" / "run" / "prepare").exists()


def test_a_step_failing_after_a_registration_says_how_to_store_the_days_forecast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monitor failing after the register step registered a version: the rerun its error
    asks for stops at prepare (that version's data is no new data), or with
    data.require_new_data=false registers the day's model again, so the error gives the monitor
    step alone on the run's folders. A failure before register, or in a replay (which reruns its
    days itself), adds nothing."""
    import shlex

    from stockcast.config.overrides import hydra_quoted
    from stockcast.orchestration import runner
    from stockcast.orchestration.steps.run_folders import port_folder
    from stockcast.orchestration.steps.table import DECISION, PREPARED

    decision = port_folder(tmp_path, DECISION) / DECISION_FILE
    failing = {"name": "monitor", "registered": True, "promote": True}

    def step_run(step: Step, overrides: list[str], step_dir: Path) -> StepTiming:
        if step.name == "register":
            decision.parent.mkdir(parents=True, exist_ok=True)
            made = {"promote": failing["promote"]}
            decision.write_text(
                json.dumps({"registered": failing["registered"], "version": 4, "decision": made})
            )
        if step.name == failing["name"]:
            raise StepFailed(f"step {step.name!r} failed: the ledger is damaged.")
        return StepTiming(step.name, 0.0, 0.0, 0.0)

    monkeypatch.setattr(runner, "run_step_inprocess", step_run)
    for promote, made in [(True, "as the champion"), (False, "without making it the champion")]:
        failing["promote"] = promote
        user = ["seed=3", "+registry.signing.private_key='-----BEGIN PRIVATE KEY-----'"]
        with pytest.raises(StepFailed) as failed:
            run_pipeline(
                tmp_path, user, PIPELINE_KEYS, "inprocess", rerun_pins=["paths.root_dir=/r"]
            )
        said, command = str(failed.value).split(" on this run's folders: ")
        assert said == (
            f"step 'monitor' failed: the ledger is damaged. This run registered version 4 {made}: "
            "to store and judge this day's forecast without training or registering again, run "
            "the monitor step alone"
        )
        again = tmp_path / "monitor_again"
        # The interpreter that ran the pipeline; no private key (the monitor signs nothing).
        assert shlex.split(command) == [
            sys.executable,
            "-m",
            "stockcast.orchestration.steps.monitor",
            "seed=3",
            "paths.root_dir=/r",
            # Quoted for Hydra inside the shell's words: a folder may hold '=' or a space.
            f"hydra.run.dir={hydra_quoted(str(again))}",
            f"monitor.prepared_dir={hydra_quoted(str(port_folder(tmp_path, PREPARED)))}",
            f"monitor.decision_dir={hydra_quoted(str(decision.parent))}",
            f"monitor.output_dir={hydra_quoted(str(again / 'monitor'))}",
        ]
    cases = [("monitor", False, True, []), ("evaluate", True, True, [])]
    cases += [("monitor", True, True, None)]
    for name, registered, promote, pins in cases:
        decision.unlink(missing_ok=True)
        failing.update(name=name, registered=registered, promote=promote)
        asked = {} if pins is None else {"rerun_pins": pins}  # None: run_pipeline's default
        with pytest.raises(StepFailed) as failed:
            run_pipeline(tmp_path, [], PIPELINE_KEYS, "inprocess", **asked)
        assert str(failed.value) == f"step {name!r} failed: the ledger is damaged."


def test_a_pipeline_stopped_after_a_registration_says_how_to_store_the_days_forecast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C in the monitor step after the register step registered a version said "run the
    command again", which stops at prepare (that version's data is no new data), so the day's
    forecast was never stored: the monitor command is printed on its own line, and the stop's
    sentence points at it. Stopped before a registration, it says nothing more."""
    from stockcast.orchestration import runner
    from stockcast.orchestration.steps.run_folders import port_folder
    from stockcast.orchestration.steps.table import DECISION

    decision = port_folder(tmp_path, DECISION) / DECISION_FILE
    registered = {"registered": True}

    def step_run(step: Step, overrides: list[str], step_dir: Path) -> StepTiming:
        if step.name == "register":
            decision.parent.mkdir(parents=True, exist_ok=True)
            made = {"registered": registered["registered"], "version": 4}
            decision.write_text(json.dumps(made | {"decision": {"promote": True}}))
        if step.name == "monitor":
            raise KeyboardInterrupt
        return StepTiming(step.name, 0.0, 0.0, 0.0)

    monkeypatch.setattr(runner, "run_step_inprocess", step_run)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(tmp_path, ["seed=3"], PIPELINE_KEYS, "inprocess", rerun_pins=[])
    printed = capsys.readouterr().err.strip()
    assert printed.startswith("This run registered version 4 as the champion: to store and judge")
    assert printed.split(" on this run's folders: ")[1].startswith(
        f"{sys.executable} -m stockcast.orchestration.steps.monitor seed=3 "
    )
    assert pipeline_goes_on(tmp_path) == (
        "running it again would stop at prepare, as the version it registered holds this day's "
        "data: store and judge the day's forecast with the monitor command above"
    )
    registered["registered"] = False
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(tmp_path, ["seed=3"], PIPELINE_KEYS, "inprocess", rerun_pins=[])
    assert capsys.readouterr().err == ""
    assert pipeline_goes_on(tmp_path) is None


def test_the_rerun_command_pins_the_public_key_the_run_read(make_cfg, tmp_path: Path) -> None:
    """A key read from the environment as text (registry=azureml's STOCKCAST_SIGNING_PUBLIC_KEY)
    is in no override: unpinned, the printed command checked no signature in a bare shell."""
    from omegaconf import open_dict

    from stockcast.config.overrides import hydra_quoted
    from stockcast.orchestration.monitor_rerun import RERUN_PUBLIC_KEY_FILE, pinned_for_rerun

    cfg = make_cfg(config_name="pipeline")
    key_file = tmp_path / "keys" / "model-signing.pub"
    pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
    pinned = {}
    for given in (None, str(key_file), pem):
        with open_dict(cfg):
            cfg.registry.signing.public_key = given
        pinned[given] = pinned_for_rerun(cfg)[-1]
    assert pinned[None] == "registry.signing.public_key=null"
    assert pinned[str(key_file)] == f"registry.signing.public_key={hydra_quoted(str(key_file))}"
    written = Path(cfg.paths.output_dir) / RERUN_PUBLIC_KEY_FILE
    assert pinned[pem] == f"registry.signing.public_key={hydra_quoted(str(written))}"
    assert written.read_text() == pem


@pytest.mark.slow
def test_the_monitor_alone_stores_the_day_a_failed_monitor_step_lost(
    store_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command a failed monitor step gives stores and judges that day's forecast of the
    version the run registered, and trains and registers nothing."""
    import shlex

    from stockcast.errors import LedgerUnusable
    from stockcast.registry.ledger import Ledger
    from stockcast.registry.store import ModelRegistry
    from tests.conftest import (
        AS_OF,
        CLI_ENV,
        LENIENT_GATE,
        Command,
        global_state_restored,
        run_command,
        run_local_pipeline,
        seed_store,
    )
    from tests.test_ets_kind import LONE

    store = seed_store(store_template, tmp_path / "store")

    def unwritable(self: Ledger, forecasts: object) -> int:
        raise LedgerUnusable("the forecast ledger cannot be written (disk I/O error).")

    with global_state_restored(), monkeypatch.context() as patched:
        patched.setattr(Ledger, "append", unwritable)
        with pytest.raises(StepFailed) as failed:
            run_local_pipeline(store, *LONE, AS_OF, *LENIENT_GATE)
    assert "This run registered version 1 as the champion" in str(failed.value)
    printed = str(failed.value).split(" on this run's folders: ")[1]
    # Pasted into a shell elsewhere, with none of the project's environment variables.
    bare = {k: v for k, v in os.environ.items() if not k.startswith("STOCKCAST_")} | CLI_ENV
    run_command(Command(("bash", "-c", printed), tmp_path, bare, python=False), bare)
    monitor_dir = Path(shlex.split(printed)[-1].split("=", 1)[1].strip("'"))
    report = json.loads((monitor_dir / REPORT_FILE).read_text())
    assert report["status"] == "ok" and report["champion"] == 1 and report["stored"] == 1
    registry = ModelRegistry(f"sqlite:///{store}/mlruns.db", "pipeline_stock_predictor")
    assert [info.version for info in registry.versions()] == [1]


def test_the_local_pipeline_asks_for_the_rerun_hint_and_a_replay_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stores_from_template: None
) -> None:
    from stockcast.config.overrides import hydra_quoted
    from stockcast.orchestration import replay, replay_day_loop, runner
    from tests.conftest import compose_config, global_state_restored, run_local_pipeline

    asked: list[object] = []

    def stopped(*args: object, rerun_pins: object = None, **kwargs: object) -> None:
        asked.append(rerun_pins)
        raise StepFailed("step 'monitor' failed: stopped here.")

    monkeypatch.setattr(runner, "run_pipeline", stopped)
    with global_state_restored(), pytest.raises(StepFailed):
        run_local_pipeline(tmp_path / "pipeline")
    monkeypatch.setattr(replay_day_loop, "run_pipeline", stopped)
    # Its one day failed, so the replay ends with an error too (after recording the day).
    with global_state_restored(), pytest.raises(StockcastError, match="every day of the replay"):
        run_task(
            replay.run_replay,
            "replay",
            [*isolated_overrides(tmp_path / "replay"), "days=1", "replay.end=2026-06-30"],
            tmp_path / "replay" / "run",
        )
    # The local pipeline pins the store and key it resolved from the environment.
    store = tmp_path / "pipeline"
    root = compose_config("pipeline", isolated_overrides(store), tmp_path).paths.root_dir
    assert asked == [
        [
            f"paths.root_dir={hydra_quoted(str(root))}",
            f"registry.tracking_uri={hydra_quoted(f'sqlite:///{store}/mlruns.db')}",
            "registry.signing.public_key=null",
        ],
        None,
    ]


def test_a_config_dir_reaches_the_steps_as_a_search_path(tmp_path: Path) -> None:
    """`--config-dir` gives its folder to the command it is typed on only: the pipeline composed
    `experiment=mine` from it, then each step, composing its config from the overrides, refused
    it (`experiment=mine is not one of the experiment configs`), in process and as a process."""
    from hydra.conf import ConfigSourceInfo

    from stockcast.config.compose import CONFIG_DIR, compose_config
    from stockcast.orchestration.runner import user_overrides

    mine = tmp_path / "my configs" / "experiment" / "mine.yaml"
    mine.parent.mkdir(parents=True)
    mine.write_text("# @package _global_\ndata:\n  previous_time_window: 7\n")
    hydra = hydra_conf(["experiment=mine"])
    hydra.runtime.config_sources = [
        ConfigSourceInfo(path=str(CONFIG_DIR), schema="file", provider="main"),
        ConfigSourceInfo(path=str(mine.parent.parent), schema="file", provider="command-line"),
    ]
    with hydra_held(hydra):
        overrides = user_overrides()
    assert overrides == [f"hydra.searchpath=['file://{mine.parent.parent}']", "experiment=mine"]
    assert compose_config("pipeline", overrides).data.previous_time_window == 7


def test_the_steps_get_an_interpolation_typed_on_the_command_line_as_typed() -> None:
    """Reading Hydra's record of the overrides resolved each `${...}` in the pipeline's config:
    a step got `train.output_dir=<the pipeline's folder>/x` for `${paths.output_dir}/x`, where
    its own config gives its own folder."""
    from stockcast.orchestration.runner import user_overrides

    typed = "+extra=${paths.output_dir}/x"
    with hydra_held(hydra_conf([typed]), paths={"output_dir": "/pipeline"}):
        assert user_overrides() == [typed]


def test_a_folder_port_set_on_a_pipeline_run_is_refused_before_any_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner binds every port after the user's overrides: `make pipeline
    ARGS="register.output_dir=..."` wrote the decision into the run folder without a word."""
    from stockcast.orchestration import runner
    from tests.conftest import run_local_pipeline

    def ran(*args: object, **kwargs: object) -> None:
        raise AssertionError("a step ran")

    monkeypatch.setattr(runner, "run_pipeline", ran)
    wanted = tmp_path / "decision"
    with pytest.raises(ConfigError) as refused:
        run_local_pipeline(tmp_path, f"register.output_dir={wanted}")
    bound = tmp_path / "logs" / "pipeline" / "runs"
    assert str(refused.value).startswith(
        f"register.output_dir is set to {wanted}, but a pipeline run binds each step's folders "
        f"in its run folder ({bound}/"
    )
    assert str(refused.value).endswith(
        "/register/decision here) and would not use it; drop it, or run the register step alone "
        "(python -m stockcast.orchestration.steps.register) to use that folder."
    )
    assert not wanted.exists()


@pytest.mark.parametrize(
    ("module", "task"), [("runner", "run_local_pipeline"), ("replay", "run_replay")]
)
def test_a_config_name_the_steps_would_not_compose_is_refused_before_any_work(
    module: str, task: str
) -> None:
    """`--config-name mine` on the pipeline runner or the replay: the command composed `mine`,
    then every step composed the pipeline config from the overrides alone, without a word."""
    import importlib

    from omegaconf import OmegaConf

    hydra = hydra_conf()
    hydra.job.config_name = "mine"
    run = getattr(importlib.import_module(f"stockcast.orchestration.{module}"), task)
    with hydra_held(hydra), pytest.raises(ConfigError) as refused:
        run(OmegaConf.create({}))  # nothing of the config is read first
    assert str(refused.value) == (
        "--config-name mine reaches this command but not its steps, which compose the pipeline "
        "config: drop it, and give its settings as overrides or as an experiment config "
        "(--config-dir <folder> experiment=<name>)."
    )
