"""How an entry point ends when something outside the task stops it: a fit stopped by SIGTERM is
not a success."""

from __future__ import annotations

import pytest
from lightning.pytorch.utilities.exceptions import SIGTERMException

from stockcast.config.task import SIGTERM_EXIT, user_errors_exit


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


def test_any_other_exit_passes_through_unchanged() -> None:
    @user_errors_exit
    def finished() -> None:
        raise SystemExit(0)

    with pytest.raises(SystemExit) as ended:
        finished()
    assert ended.value.code == 0
