"""Rolling a flagged champion back: the alias goes to the latest previous champion of its
horizon that opens, passing over deleted and damaged versions, and moves nothing where another
run moved it meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockcast.evaluation.monitor_status import ROLLED_BACK
from stockcast.registry.ledger import LEDGER_FILE, Ledger
from stockcast.registry.store import ModelRegistry
from stockcast.registry.versions import ROLLBACK_TAG
from tests.conftest import MODEL
from tests.monitor_helpers import (
    FIRST_DAY,
    change_registered_files,
    iso,
    model_folder,
    monitor_day,
    register,
    registry,
)


def champions_in_turn(tmp: Path, count: int) -> tuple[ModelRegistry, Ledger]:
    """Versions 1 to `count` registered and made the champion one after another, as the
    ledger's champion history records them."""
    reg, ledger = registry(tmp), Ledger(tmp / LEDGER_FILE, 30)
    with reg.writing():
        for version in range(1, count + 1):
            info, _ = reg.register(model_folder(tmp / f"v{version}", 0.0), {})
            reg.promote("champion", info)
            ledger.record_champion(MODEL, "champion", info.version, iso(version), "promoted")
    return reg, ledger


def test_a_rollback_skips_champions_of_another_horizon(seeded_tmp: Path) -> None:
    """After data.next_time_window changed, the champions before it forecast another number of
    values: the alias goes back to the latest one of the flagged version's horizon, or nowhere."""
    from stockcast.registry.rollback import roll_back

    reg, ledger = registry(seeded_tmp), Ledger(seeded_tmp / LEDGER_FILE, 30)
    horizons = {1: 2, 2: 3, 3: 2, 4: 3}
    with reg.writing():
        for version, horizon in horizons.items():
            folder = model_folder(seeded_tmp / f"v{version}", float(version))
            info, _ = reg.register(folder, {"next_time_window": str(horizon)}, promote=True)
            reg.promote("champion", info)
            ledger.record_champion(MODEL, "champion", info.version, iso(version), "promoted")
    flagged = reg.champion("champion")
    done = roll_back("champion", reg, ledger, flagged, "decayed", iso(10))
    assert done == {"done": True, "from": 4, "to": 2, "reason": "decayed"}
    # v2 decays too: v3 and v1 forecast 2 values, not its 3, and nothing else is left.
    kept = roll_back("champion", reg, ledger, reg.champion("champion"), "decayed", iso(11))
    assert kept == {
        "done": False,
        "reason": "no previous champion forecasting 3 values to roll back to (the monitor "
        "flagged version 4 before)",
    }
    assert reg.champion("champion").version == 2


def test_a_rollback_passes_over_a_previous_champion_that_does_not_open(seeded_tmp: Path) -> None:
    """Moved onto a version whose files no longer match their hash (or whose signature the key
    refuses), the alias left predict, serve and the monitor a champion none could open, where
    the flagged one still forecast: the alias goes to the latest one that opens, or stays."""
    from stockcast.errors import ArtifactError, DamagedVersion
    from stockcast.registry.lock import LOCK_SUFFIX, _file_lock
    from stockcast.registry.rollback import roll_back

    reg, ledger = champions_in_turn(seeded_tmp, 3)
    damaged = {2: "version 2's model folder does not match its registered hash."}
    tried = []
    store_lock = _file_lock(seeded_tmp / f"mlruns.db{LOCK_SUFFIX}")

    def opens(info) -> None:
        # Opened before the store's write lock is taken: a register step waits on it.
        assert not store_lock.is_locked
        tried.append(info.version)
        if info.version in damaged:
            raise DamagedVersion(damaged[info.version], "its files")

    done = roll_back("champion", reg, ledger, reg.champion("champion"), "decayed", iso(10), opens)
    assert tried == [2, 1]
    assert done == {
        "done": True,
        "from": 3,
        "to": 1,
        "reason": "decayed",
        "passed_over": {"2": "version 2's model folder does not match its registered hash"},
    }
    assert reg.champion("champion").version == 1
    # Nothing before v1 opens either: the alias stays where it is, and the report says why.
    damaged[1] = "version 1 does not load: no module named 'mine'."
    with reg.writing():
        reg.promote("champion", reg.resolve(version=3))
    ledger.record_champion(MODEL, "champion", 3, iso(11), "promoted")

    def refuses_with_another_error(info) -> None:
        if info.version == 1:
            raise ArtifactError(damaged[1])
        opens(info)

    kept = roll_back(
        "champion",
        reg,
        ledger,
        reg.champion("champion"),
        "decayed",
        iso(12),
        refuses_with_another_error,
    )
    # v1 was the champion last (the rollback), then v2, each refused in turn.
    assert kept == {
        "done": False,
        "reason": "no previous champion that opens to roll back to (version 1 does not load: no "
        "module named 'mine'; version 2's model folder does not match its registered hash)",
    }
    assert reg.champion("champion").version == 3


def test_a_rollback_passes_over_a_deleted_champion_and_stops_at_other_errors(
    seeded_tmp: Path,
) -> None:
    """A previous champion deleted from the store is no target, and the search goes on to the
    one before it; an error that says nothing about the version (the store or the disk failing)
    is no reason to pass it over: it stops the rollback with the alias where it was."""
    from stockcast.registry.rollback import roll_back

    reg, ledger = champions_in_turn(seeded_tmp, 3)
    reg.client().delete_model_version(MODEL, "2")

    def disk_full(info) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        roll_back("champion", reg, ledger, reg.champion("champion"), "decayed", iso(10), disk_full)
    assert reg.champion("champion").version == 3
    tried: list[int] = []
    done = roll_back(
        "champion",
        reg,
        ledger,
        reg.champion("champion"),
        "decayed",
        iso(10),
        lambda info: tried.append(info.version),
    )
    assert tried == [1] and done["done"] and done["to"] == 1
    assert done["passed_over"] == {"2": "version 2 was deleted from the store"}


def test_a_rollback_whose_previous_champions_were_deleted_says_so(seeded_tmp: Path) -> None:
    """Every earlier champion deleted from the store: the reason names them, where "no previous
    champion" would deny the versions the user saw as champion."""
    from stockcast.registry.rollback import roll_back

    reg, ledger = champions_in_turn(seeded_tmp, 3)
    for version in ("1", "2"):
        reg.client().delete_model_version(MODEL, version)
    done = roll_back(
        "champion", reg, ledger, reg.champion("champion"), "decayed", iso(10), lambda info: None
    )
    assert done == {
        "done": False,
        "reason": "no previous champion that opens to roll back to (version 2 was deleted from "
        "the store; version 1 was deleted from the store)",
    }
    assert reg.champion("champion").version == 3


def test_a_rollback_moves_nothing_where_the_alias_moved_while_it_opened(seeded_tmp: Path) -> None:
    """The versions are opened before the lock: a run that moved the alias meanwhile (a
    register step promoting its own) keeps it."""
    from stockcast.registry.rollback import roll_back

    reg, ledger = champions_in_turn(seeded_tmp, 3)

    def a_rival_promotes_while_it_opens(info) -> None:
        with reg.writing():
            reg.promote("champion", reg.resolve(version=1))

    flagged = reg.champion("champion")
    kept = roll_back(
        "champion", reg, ledger, flagged, "decayed", iso(10), a_rival_promotes_while_it_opens
    )
    assert kept == {
        "done": False,
        "reason": "the champion alias moved meanwhile; nothing rolled back",
    }
    assert reg.champion("champion").version == 1
    assert ROLLBACK_TAG not in reg.resolve(version=3).tags


def test_the_check_that_a_version_opens_leaves_no_copy(
    seeded_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockcast.errors import DamagedVersion
    from stockcast.serving import model as serving_model

    def downloads_then_refuses(registry, info, workdir) -> None:
        (Path(workdir) / "model").mkdir(parents=True)
        raise DamagedVersion("version 1's files do not match their hash.", "MLmodel")

    monkeypatch.setattr(serving_model, "open_version", downloads_then_refuses)
    workdir = seeded_tmp / "rollback_check"
    with pytest.raises(DamagedVersion):
        serving_model.check_version_opens(registry(seeded_tmp), None, workdir)
    assert not workdir.exists()


def rolled_back_with_changed_files(tmp: Path, good: int, changed: int) -> dict:
    """`good` naive champions seen a day each, then a far-off one flagged over three days; the
    files of version `changed` are changed in the store before the day that rolls back. That
    day's report."""
    from tests.conftest import global_state_restored

    with global_state_restored():
        for day in range(good):
            register(tmp, f"good{day}", 0.0)
            monitor_day(tmp, FIRST_DAY + day)
        register(tmp, "bad", 3.0)
        for rows in range(FIRST_DAY + good, FIRST_DAY + good + 3):
            monitor_day(tmp, rows)
        change_registered_files(tmp, changed)
        return monitor_day(tmp, FIRST_DAY + good + 3, "monitor.rollback=true")


@pytest.mark.slow
def test_a_monitor_rolls_back_past_a_damaged_version(seeded_tmp: Path) -> None:
    report = rolled_back_with_changed_files(seeded_tmp, good=2, changed=2)
    assert report["status"] == ROLLED_BACK and report["rollback"]["to"] == 1
    assert list(report["rollback"]["passed_over"]) == ["2"]
    assert (
        f"champion rolled back to version 1, passing over ({MODEL} version 2 "
        in (report["message"])
    )
    assert registry(seeded_tmp).champion("champion").version == 1


@pytest.mark.slow
def test_a_monitor_does_not_roll_back_onto_a_damaged_version(seeded_tmp: Path) -> None:
    report = rolled_back_with_changed_files(seeded_tmp, good=1, changed=1)
    assert report["status"] == "flagged" and report["champion"] == 2
    assert report["rollback"]["done"] is False
    assert report["rollback"]["reason"].startswith(
        f"no previous champion that opens to roll back to ({MODEL} version 1 does not match "
    )
    assert "it was modified after registration" in report["message"]
    assert registry(seeded_tmp).champion("champion").version == 2
