"""How an entry point ends when something outside the task stops it: a fit stopped by SIGTERM,
SIGHUP or Ctrl-C is not a success, and says where it stopped."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hydra.types import RunMode
from lightning.pytorch.utilities.exceptions import SIGTERMException

from stockcast.config.task import (
    CTRL_C_EXIT,
    SIGHUP_EXIT,
    SIGTERM_EXIT,
    GoesOn,
    user_errors_exit,
)
from stockcast.orchestration.replay_record import REPLAY_FILE, replay_goes_on, resumed_run_dir
from tests.conftest import hydra_conf, hydra_held


def test_a_fit_stopped_by_sigterm_exits_non_zero_in_one_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Lightning's loops raise SIGTERMException, a SystemExit without a code: exit status 0, so a
    # scheduler, a pipeline step or a sweep read a killed run as finished.
    @user_errors_exit
    def stopped() -> None:
        raise SIGTERMException()

    with pytest.raises(SystemExit) as ended:
        stopped()
    assert ended.value.code == SIGTERM_EXIT
    err = capsys.readouterr().err
    assert err.startswith("error: stopped by SIGTERM before it finished")
    assert err.count("\n") == 1


@pytest.fixture
def hang_up_handler() -> Iterator[Callable[..., object]]:
    """Sets SIGHUP's handler in this process (as a shell, `nohup` or a sweeper left it) and
    puts the test process's own back afterwards."""
    own = signal.getsignal(signal.SIGHUP)
    yield lambda handler: signal.signal(signal.SIGHUP, handler)
    signal.signal(signal.SIGHUP, own)


def test_a_fit_stopped_by_a_closed_terminal_exits_129_in_one_sentence(
    hang_up_handler: Callable[..., object], capsys: pytest.CaptureFixture[str]
) -> None:
    """A closed terminal's SIGHUP killed a fit at once (exit -1, no line, its MLflow run left
    RUNNING): it is now handed to the SIGTERM handler a fit installs, Lightning's, which stops
    the fit at its next step, and named in the line and the exit status. The handler is the
    default one again afterwards."""
    hang_up_handler(signal.SIG_DFL)
    received: list[int] = []

    @user_errors_exit
    def fitting() -> None:
        # Raised only where it can no longer kill the test process.
        assert signal.getsignal(signal.SIGHUP) != signal.SIG_DFL, "SIGHUP would kill the fit"
        lightnings = signal.signal(signal.SIGTERM, lambda number, _: received.append(number))
        try:
            signal.raise_signal(signal.SIGHUP)
        finally:
            signal.signal(signal.SIGTERM, lightnings)
        if received:
            raise SIGTERMException()

    with pytest.raises(SystemExit) as ended:
        fitting()
    assert received == [signal.SIGTERM]
    assert ended.value.code == SIGHUP_EXIT == 129
    err = capsys.readouterr().err
    assert err == "error: stopped by SIGHUP before it finished; run the command again.\n"
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL


def test_a_hang_up_someone_else_handles_is_left_to_them(
    hang_up_handler: Callable[..., object],
) -> None:
    """`nohup` ignores SIGHUP so that a run outlives its terminal, and the Optuna sweeper
    handles it to name the trials it stopped: neither is overridden."""
    hung_up: list[int] = []

    def sweepers(number: int, _: object) -> None:
        hung_up.append(number)

    @user_errors_exit
    def fitting() -> str:
        signal.raise_signal(signal.SIGHUP)
        return "finished"

    for handler in (signal.SIG_IGN, sweepers):
        hang_up_handler(handler)
        assert fitting() == "finished"
        assert signal.getsignal(signal.SIGHUP) == handler
    assert hung_up == [signal.SIGHUP]


def test_any_other_exit_passes_through_unchanged() -> None:
    @user_errors_exit
    def finished() -> None:
        raise SystemExit(0)

    with pytest.raises(SystemExit) as ended:
        finished()
    assert ended.value.code == 0


def test_a_task_stopped_by_ctrl_c_exits_130_in_one_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Outside a fit (preparing data, say) Ctrl-C was a KeyboardInterrupt traceback.
    @user_errors_exit
    def stopped() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as ended:
        stopped()
    assert ended.value.code == CTRL_C_EXIT == 130
    err = capsys.readouterr().err
    assert err == "error: stopped by Ctrl-C before it finished; run the command again.\n"


@contextmanager
def sweep_job(job: Path, sweep: Path, mode: RunMode = RunMode.MULTIRUN) -> Iterator[None]:
    """Hydra's config as a multirun job in `job` of the sweep in `sweep` sees it (or, with
    `mode=RunMode.RUN`, a single run in `job`)."""
    hydra = hydra_conf()
    hydra.mode = mode
    hydra.runtime.output_dir = str(job)
    hydra.sweep.dir = str(sweep)
    with hydra_held(hydra):
        yield


def test_a_sweep_stopped_by_ctrl_c_names_how_to_rank_the_jobs_that_finished(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stopped sweep writes no summary (Hydra calls no callback); the jobs that finished are
    ranked by scripts/sweep_summary.py, named only where one has metrics to rank."""
    sweep = tmp_path / "multiruns" / "t"
    (sweep / "1" / "checkpoints").mkdir(parents=True)
    (sweep / "1" / "checkpoints" / "resume.ckpt").write_text("")

    @user_errors_exit
    def stopped() -> None:
        raise KeyboardInterrupt

    def said() -> str:
        with sweep_job(sweep / "1", sweep), pytest.raises(SystemExit) as ended:
            stopped()
        assert ended.value.code == CTRL_C_EXIT
        return capsys.readouterr().err

    resume = f"continue it with train.resume={sweep / '1'} and the same settings"
    assert (
        said()
        == f"error: stopped by Ctrl-C before it finished (its folder: {sweep / '1'}); {resume}.\n"
    )
    (sweep / "0").mkdir()
    (sweep / "0" / "metrics.json").write_text("{}")
    ranked = f"python scripts/sweep_summary.py {sweep} ranks the jobs that finished"
    assert said().endswith(f"{resume}; {ranked}.\n")


def test_a_stopped_sweeps_summary_command_quotes_a_folder_the_shell_would_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sweep folder is one argument of the command the sentence names: a space split it in
    two, so the copied command ranked no sweep, and a `$` was read by the shell."""
    sweep = tmp_path / "my sweeps $HOME" / "t"
    (sweep / "0").mkdir(parents=True)
    (sweep / "0" / "metrics.json").write_text("{}")

    @user_errors_exit
    def stopped() -> None:
        raise KeyboardInterrupt

    with sweep_job(sweep / "1", sweep), pytest.raises(SystemExit):
        stopped()
    ranked = f"python scripts/sweep_summary.py '{sweep}' ranks the jobs that finished"
    assert capsys.readouterr().err.endswith(f"run the command again; {ranked}.\n")


def test_a_replay_stopped_by_sigterm_names_the_resume_that_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Running a stopped replay's command again starts a new one from its first day in a fresh
    store; `replay.resume_from` goes on from the day it stopped in (README: Replay). The replay
    hands its entry point that advice: another task is not told it, whatever it imported. The
    folder ended the sentence, so copying the override took its full stop along, and the resume
    was refused for naming no replay."""
    run_dir = tmp_path / "replay" / "runs" / "t"
    run_dir.mkdir(parents=True)
    (run_dir / REPLAY_FILE).write_text("{}")

    def stopped() -> None:
        raise SIGTERMException()

    def said(goes_on: GoesOn | None) -> str:
        with sweep_job(run_dir, tmp_path, RunMode.RUN), pytest.raises(SystemExit) as ended:
            user_errors_exit(stopped, goes_on)()
        assert ended.value.code == SIGTERM_EXIT
        return capsys.readouterr().err

    stop = f"error: stopped by SIGTERM before it finished (its folder: {run_dir}); "
    assert said(replay_goes_on) == (
        f"{stop}go on with replay.resume_from={run_dir} added to the same command.\n"
    )
    assert said(None) == f"{stop}run the command again.\n"
    (run_dir / REPLAY_FILE).unlink()
    assert said(replay_goes_on) == f"{stop}run the command again.\n"


def test_a_stopped_resume_names_the_replay_it_goes_on_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume runs in a Hydra run folder of its own, which holds only its log: stopped, it
    named that folder alone, not the replay whose days and record the same command goes on
    with (README: Replay). The folder is read as typed, relative to the shell's folder."""
    replay_dir = tmp_path / "replay" / "runs" / "t"
    replay_dir.mkdir(parents=True)
    (replay_dir / REPLAY_FILE).write_text("{}")
    own = tmp_path / "replay" / "runs" / "u"
    own.mkdir()
    monkeypatch.chdir(tmp_path)
    hydra = hydra_conf(["days=5", "replay.resume_from='replay/runs/t'"])
    hydra.runtime.output_dir = str(own)

    def stopped() -> None:
        raise KeyboardInterrupt

    with hydra_held(hydra), pytest.raises(SystemExit) as ended:
        user_errors_exit(stopped, replay_goes_on)()
    assert ended.value.code == CTRL_C_EXIT
    assert capsys.readouterr().err == (
        f"error: stopped by Ctrl-C before it finished (its folder: {own}); the replay it "
        f"resumes, in {replay_dir}, goes on with the same command again.\n"
    )


def test_a_resume_folder_typed_relative_absolute_or_from_home_is_one_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resume and a stopped resume's advice read `replay.resume_from` through one function:
    a folder typed relative to the shell's, absolute, or under `~` is the same run directory."""
    run_dir = tmp_path / "replay" / "runs" / "t"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    typed = ["replay/runs/t", str(run_dir), "~/replay/runs/t"]
    assert [resumed_run_dir(folder) for folder in typed] == [run_dir] * len(typed)


def test_a_stopped_fit_in_a_folder_hydra_cannot_read_unquoted_names_it_quoted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under a root such as `exp(1),b` the advice `train.resume=<folder>` was refused by Hydra's
    grammar when typed as shown; it is now quoted so that a shell and Hydra read it back."""
    import shlex

    from hydra.core.override_parser.overrides_parser import OverridesParser

    run = tmp_path / "exp(1),b" / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "resume.ckpt").write_text("")

    @user_errors_exit
    def stopped() -> None:
        raise KeyboardInterrupt

    with sweep_job(run, tmp_path, RunMode.RUN), pytest.raises(SystemExit):
        stopped()
    err = capsys.readouterr().err
    shown = f"\"train.resume='{run}'\""
    assert err.endswith(f"; continue it with {shown} and the same settings.\n")
    (typed,) = shlex.split(shown)
    assert OverridesParser.create().parse_override(typed).value() == str(run)
