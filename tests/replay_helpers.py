"""What the replay test modules share: fresh stores for each test, a short replay run in
this process, and replays whose days are stubbed and stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockcast.orchestration import replay_day_loop
from stockcast.orchestration.replay import run_replay
from tests.conftest import (
    LENIENT_GATE,
    global_state_restored,
    isolated_overrides,
    run_task,
)


@pytest.fixture(autouse=True)
def _fresh_stores_copied(request: pytest.FixtureRequest) -> None:
    """The replays here create a store each (often several); the end-to-end run creates its
    first one itself."""
    if request.node.get_closest_marker("slow") is None:
        request.getfixturevalue("stores_from_template")


# A short horizon, so day 1's forecast matures on day 3 of a 5-day replay.
REPLAY_FAST = (
    "data.length=300",
    "data.next_time_window=2",
    "trainer.max_steps=60",
    "train.warm_max_steps=20",
    "data.batch_size=32",
    "days=5",
    "replay.end=2026-06-30",
    *LENIENT_GATE,
)


def _replay(tmp: Path, name: str, *extra: str) -> dict:
    with global_state_restored():
        return run_task(
            run_replay, "replay", [*isolated_overrides(tmp), *REPLAY_FAST, *extra], tmp / name
        ).value


def _stop_on_day(
    number: int, monkeypatch: pytest.MonkeyPatch, given: list[list[str]] | None = None
) -> list[str]:
    """Days that only make their folder (and keep the overrides they were given in `given`);
    day `number` stops the replay (a kill) once."""
    ran: list[str] = []

    def one_day(
        day_dir: Path, overrides: list[str], keys: set[str], executor: str
    ) -> dict[str, float]:
        ran.append(day_dir.name)
        if given is not None:
            given.append(overrides)
        (day_dir / "prepare").mkdir(parents=True)
        if len(ran) == number:
            raise KeyboardInterrupt
        return {}

    monkeypatch.setattr(replay_day_loop, "run_pipeline", one_day)
    return ran


def _stopped_replay(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    day: int,
    *extra: str,
    given: list[list[str]] | None = None,
) -> list[str]:
    """A replay into `run/` with stubbed days, stopped on `day`: the days it ran."""
    ran = _stop_on_day(day, monkeypatch, given)
    with pytest.raises(KeyboardInterrupt):
        _replay(tmp_path, "run", *extra)
    return ran
