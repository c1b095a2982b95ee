"""The step table drives the local runner: real rows wire by port name, and one extra row (the
dummy `publish` step) runs after them with no change to the runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import DictConfig

from stockcast.evaluation.reports import REPORT_FILE
from stockcast.orchestration.runner import port_bindings, run_pipeline, step_command
from stockcast.orchestration.steps.table import (
    DECISION_FILE,
    STEPS,
    URI_FOLDER,
    Port,
    Step,
    check_table,
    step_folders,
    wiring,
)
from tests.conftest import FAST_OVERRIDES, isolated_overrides, run_task
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
    from stockcast.orchestration.steps.table import step_named, table_step
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


def test_a_step_failing_after_a_registration_says_how_to_store_the_days_forecast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monitor failing after the register step made a version the champion: the rerun its
    error asks for stops at prepare (that version's data is no new data), so the error says how
    to store and judge the day's forecast. A failure before, after a version registered
    without the alias (a rerun would register another), or in a replay (which reruns its days
    itself) adds nothing."""
    from stockcast.orchestration import runner
    from stockcast.orchestration.steps.table import DECISION, port_folder

    decision = port_folder(tmp_path, DECISION) / DECISION_FILE
    failing = {"name": "monitor", "registered": True, "promote": True}

    def step_run(step: Step, overrides: list[str], step_dir: Path) -> runner.StepTiming:
        if step.name == "register":
            decision.parent.mkdir(parents=True, exist_ok=True)
            made = {"promote": failing["promote"]}
            decision.write_text(
                json.dumps({"registered": failing["registered"], "version": 4, "decision": made})
            )
        if step.name == failing["name"]:
            raise runner.StepFailed(f"step {step.name!r} failed: the ledger is damaged.")
        return runner.StepTiming(step.name, 0.0, 0.0, 0.0)

    monkeypatch.setattr(runner, "run_step_inprocess", step_run)
    with pytest.raises(runner.StepFailed) as failed:
        run_pipeline(tmp_path, [], PIPELINE_KEYS, "inprocess", rerun_hint=True)
    assert str(failed.value) == (
        "step 'monitor' failed: the ledger is damaged. This run had made version 4 the champion: "
        "rerun with data.require_new_data=false to store and judge this day's forecast (the same "
        "seed and data train the same model, which is not registered again)."
    )
    cases = [("monitor", False, True, True), ("evaluate", True, True, True)]
    cases += [("monitor", True, False, True), ("monitor", True, True, None)]
    for name, registered, promote, hint in cases:
        decision.unlink(missing_ok=True)
        failing.update(name=name, registered=registered, promote=promote)
        asked = {} if hint is None else {"rerun_hint": hint}  # None: run_pipeline's default
        with pytest.raises(runner.StepFailed) as failed:
            run_pipeline(tmp_path, [], PIPELINE_KEYS, "inprocess", **asked)
        assert str(failed.value) == f"step {name!r} failed: the ledger is damaged."


def test_the_local_pipeline_asks_for_the_rerun_hint_and_a_replay_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockcast.orchestration import replay, runner
    from tests.conftest import global_state_restored, run_local_pipeline

    asked: list[bool] = []

    def stopped(*args: object, rerun_hint: bool = False, **kwargs: object) -> None:
        asked.append(rerun_hint)
        raise runner.StepFailed("step 'monitor' failed: stopped here.")

    monkeypatch.setattr(runner, "run_pipeline", stopped)
    with global_state_restored(), pytest.raises(runner.StepFailed):
        run_local_pipeline(tmp_path / "pipeline")
    monkeypatch.setattr(replay, "run_pipeline", stopped)
    with global_state_restored():
        run_task(
            replay.run_replay,
            "replay",
            [*isolated_overrides(tmp_path / "replay"), "days=1", "replay.end=2026-06-30"],
            tmp_path / "replay" / "run",
        )
    assert asked == [True, False]
