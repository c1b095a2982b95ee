"""The registry under crashes and concurrency: kill -9 at each phase of registration, four
registrations of one folder into a fresh store, concurrent promotions, the write lease."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from stockcast.registry.faults import CRASH_PHASES
from stockcast.registry.lock import LEASE_TAG, StoreBusy, TagLease
from stockcast.registry.versions import PROMOTION_TAG, SETTLED
from tests.conftest import seed_store
from tests.reliability_helpers import (
    PipelineRun,
    evaluate,
    finish,
    register_command,
    registry,
    run,
    shared_pipeline_run,
    start,
    variant,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, registered_store: Path) -> PipelineRun:
    return shared_pipeline_run(tmp_path_factory, registered_store)


def runs_by_status(store: Path) -> dict[str, int]:
    client = MlflowClient(f"sqlite:///{store}/mlruns.db")
    experiment = client.get_experiment_by_name("stockcast-registry")
    counts: dict[str, int] = {}
    for found in client.search_runs([experiment.experiment_id]):
        counts[found.info.status] = counts.get(found.info.status, 0) + 1
    return counts


@pytest.mark.parametrize("phase", CRASH_PHASES)
def test_a_registration_killed_at_any_phase_is_completed_by_the_rerun(
    source: PipelineRun, store_template: Path, tmp_path: Path, phase: str
) -> None:
    # An empty store: the phases killed are the registration's, not the store's creation (the
    # fresh-store test below creates one).
    store = seed_store(store_template, tmp_path / "store")
    command = register_command(store, source.model_dir, source.report_dir, tmp_path / "r1")
    killed = run(command, crash_at=phase)
    assert killed.returncode == -9, killed.stderr[-2000:]

    rerun = run(register_command(store, source.model_dir, source.report_dir, tmp_path / "r2"))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    versions = registry(store).versions()
    assert len(versions) == 1  # never lost, never duplicated
    assert versions[0].aliases == ("champion",)  # the promotion was not lost either
    assert versions[0].tags.get(PROMOTION_TAG, SETTLED) == SETTLED
    statuses = runs_by_status(store)
    assert "RUNNING" not in statuses  # the killed process's run was closed
    if phase == "before_version":
        assert statuses == {"KILLED": 1, "FINISHED": 1}


def test_four_concurrent_registrations_of_one_folder_into_a_fresh_store_make_one_version(
    source: PipelineRun, tmp_path: Path
) -> None:
    store = tmp_path / "fresh"
    processes = [
        start(register_command(store, source.model_dir, source.report_dir, tmp_path / f"r{i}"))
        for i in range(4)
    ]
    results = [finish(process) for process in processes]
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "cannot" not in result.stderr
    versions = registry(store).versions()
    assert [v.version for v in versions] == [1]
    assert versions[0].aliases == ("champion",)
    said = [r.stdout + r.stderr for r in results]
    assert sum("registered pipeline_stock_predictor version 1" in s for s in said) == 1
    assert sum("already holds this model" in s for s in said) == 3


def test_concurrent_promotions_leave_the_best_compared_model_champion(
    source: PipelineRun, store_template: Path, tmp_path: Path
) -> None:
    candidates = []
    for index, offset in enumerate((0.4, 0.0, 0.15)):
        model_dir = variant(source, tmp_path / f"model{index}", offset)
        report_dir = tmp_path / f"report{index}"
        candidates.append((model_dir, report_dir, evaluate(source, model_dir, report_dir)))
    # An empty store: racing to create one is the fresh-store test's (above).
    store = seed_store(store_template, tmp_path / "store")
    processes = [
        start(register_command(store, model, report, tmp_path / f"r{i}"))
        for i, (model, report, _) in enumerate(candidates)
    ]
    for result in map(finish, processes):
        assert result.returncode == 0, result.stderr[-3000:]
    versions = registry(store).versions()
    champions = [v for v in versions if "champion" in v.aliases]
    assert len(champions) == 1
    best = min(mase for _, _, mase in candidates)
    assert float(champions[0].tags["test_mase"]) == pytest.approx(best, rel=1e-5)


# How long the lease tests wait for a renewal thread: far beyond any load, so only a renewal that
# never comes (or a writer that waits for a hung one) reaches it.
HANG_BOUND_S = 30.0


class FakeRegistryClient:
    """The three MLflow calls a tag lease makes, on one registered model's tags."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}

    def get_registered_model(self, name: str):
        return type("Model", (), {"tags": dict(self.tags)})()

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self.tags[key] = value

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.tags.pop(key, None)


def test_the_remote_write_lease_excludes_a_second_writer_until_released(monkeypatch) -> None:
    monkeypatch.setattr("stockcast.registry.lock.LEASE_SETTLE_S", 0.0)
    monkeypatch.setattr("stockcast.registry.lock.LEASE_POLL_S", 0.01)
    client = FakeRegistryClient()
    first, second = TagLease(client, "m"), TagLease(client, "m")
    first.acquire()
    with pytest.raises(StoreBusy, match="another writer has held registered model 'm'"):
        second.acquire(wait_s=0.05)
    first.release()
    assert LEASE_TAG not in client.tags
    with second.held():
        assert client.tags[LEASE_TAG].startswith(second.owner)


def test_a_wait_for_the_local_store_lock_is_said(tmp_path: Path, monkeypatch, caplog) -> None:
    """predict and serve open the store under its lock: while a registration held it they sat
    silent for up to ten minutes."""
    import logging

    from filelock import FileLock

    from stockcast.registry.lock import store_lock

    monkeypatch.setattr("stockcast.registry.lock.NOTICE_S", 0.05)
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    holder = FileLock(str(tmp_path / "mlruns.db.lock"))  # another writer's
    with (
        holder,
        caplog.at_level(logging.WARNING, logger="stockcast.registry.lock"),
        pytest.raises(StoreBusy, match="for over 0 s"),
        store_lock(uri, wait_s=0.3),
    ):
        pass
    assert caplog.messages == [
        f"another process is writing to {tmp_path}/mlruns.db (it holds {tmp_path}/mlruns.db.lock): "
        "waiting up to 0 s for it"
    ]
    caplog.clear()
    with store_lock(uri, wait_s=0.3):  # free: taken at once, nothing said
        pass
    assert caplog.messages == []


class LeaseClock:
    """The lease's clock (`time.time`), moved by the test alone; its `sleep` (a rival's polls)
    moves it without waiting. The renewals keep their real pace, so a renewal thread starved
    on a loaded machine only makes the test wait longer, never lets a lease expire."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def lease_expiry(client: FakeRegistryClient) -> float:
    return float(client.tags[LEASE_TAG].rpartition("|")[2])


def test_a_writer_working_past_the_lease_ttl_keeps_it(monkeypatch) -> None:
    """The lease was never extended: a writer still uploading after its TTL lost it to a rival,
    and both wrote at once."""
    import time

    ttl_s = 0.3
    clock = LeaseClock()
    monkeypatch.setattr("stockcast.registry.lock.time", clock)
    monkeypatch.setattr("stockcast.registry.lock.LEASE_SETTLE_S", 0.0)
    monkeypatch.setattr("stockcast.registry.lock.LEASE_POLL_S", 0.01)
    client = FakeRegistryClient()
    first, rival = TagLease(client, "m", ttl_s=ttl_s), TagLease(client, "m", ttl_s=ttl_s)
    with first.held():
        deadline = time.monotonic() + HANG_BOUND_S
        for _ in range(3):  # three TTLs of work, each past the expiry the lease had
            clock.now = lease_expiry(client) + ttl_s
            while lease_expiry(client) <= clock.now and time.monotonic() < deadline:
                time.sleep(0.01)  # until the renewal thread's next round extends it
        # Polling takes a fraction of a TTL on the lease's clock: a lease renewed stays held.
        with pytest.raises(StoreBusy):
            rival.acquire(wait_s=ttl_s / 2)
        assert client.tags[LEASE_TAG].startswith(first.owner)
    assert LEASE_TAG not in client.tags


def test_a_lost_lease_is_said_and_a_stuck_renewal_does_not_hold_the_writer_up(
    monkeypatch, caplog
) -> None:
    import logging
    import threading
    import time

    monkeypatch.setattr("stockcast.registry.lock.LEASE_SETTLE_S", 0.0)
    monkeypatch.setattr("stockcast.registry.lock.LEASE_JOIN_S", 0.1)
    lost = "lost the write lease of registered model 'm' to another writer"
    client = FakeRegistryClient()
    lease = TagLease(client, "m", ttl_s=0.3)
    with caplog.at_level(logging.WARNING, logger="stockcast.registry.lock"), lease.held():
        client.tags[LEASE_TAG] = "rival:1:abc|9999999999"  # taken over while this one works
        deadline = time.monotonic() + HANG_BOUND_S
        while lost not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)  # the next renewal finds the rival
    assert lost in caplog.text

    class Stuck(FakeRegistryClient):
        """A store whose answer to a renewal's read hangs until the test lets it go; the
        writer's own calls (acquire, release) are answered at once."""

        def __init__(self) -> None:
            super().__init__()
            self.writer = threading.current_thread()
            self.hung, self.let_go, self.answered = (threading.Event() for _ in range(3))
            self.renewer: threading.Thread | None = None

        def get_registered_model(self, name: str):
            if threading.current_thread() is not self.writer:
                self.renewer = threading.current_thread()
                self.hung.set()
                self.let_go.wait(HANG_BOUND_S)
                self.answered.set()
            return super().get_registered_model(name)

    stuck = Stuck()
    with TagLease(stuck, "m", ttl_s=0.15).held():
        assert stuck.hung.wait(HANG_BOUND_S)  # the first renewal reads, and hangs
    # The writer left the block and released its lease while the renewal still hung: a writer
    # that waited for it would only have left once the read gave up, and found it answered.
    assert not stuck.answered.is_set()
    assert LEASE_TAG not in stuck.tags
    stuck.let_go.set()
    stuck.renewer.join(HANG_BOUND_S)
    assert stuck.answered.is_set() and not stuck.renewer.is_alive()
    assert LEASE_TAG not in stuck.tags  # answered after the release, the renewal wrote nothing


def test_an_expired_lease_of_a_killed_writer_is_taken_over(monkeypatch) -> None:
    monkeypatch.setattr("stockcast.registry.lock.LEASE_SETTLE_S", 0.0)
    client = FakeRegistryClient()
    client.tags[LEASE_TAG] = "dead-host:1:abc|0"  # expired long ago
    lease = TagLease(client, "m")
    lease.acquire(wait_s=1)
    assert client.tags[LEASE_TAG].startswith(lease.owner)


def test_a_store_that_keeps_no_aliases_holds_each_alias_on_one_version(
    seeded_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that refuses to set an alias (an older or partial MLflow server) gets the alias
    as a tag of the version promoted, taken off the previous holder, and reads it back as the
    alias: the champion comparison, predict's default, the rollback and deploy all find it. A
    real alias of the same name wins over a tag left from before."""
    from mlflow.exceptions import MlflowException, get_error_code

    store = registry(seeded_tmp, create=True)
    client = store.client()
    client.create_registered_model(store.model_name)
    for _ in range(3):
        client.create_model_version(store.model_name, source=str(seeded_tmp))

    def refused(*args: object, **kwargs: object) -> None:
        raise MlflowException("no such endpoint", error_code=get_error_code(404))

    def unavailable(*args: object, **kwargs: object) -> None:
        raise MlflowException("try again later", error_code=get_error_code(503))

    real_alias = MlflowClient.set_registered_model_alias
    by_number = {v.version: v for v in store.versions()}
    # A store that keeps aliases but fails once: the promotion fails, nothing is tagged.
    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", unavailable)
    with pytest.raises(MlflowException, match="try again later"):
        store.promote("champion", by_number[2])
    assert store.champion("champion") is None and all(not v.tags for v in store.versions())
    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", refused)
    store.promote("champion", by_number[2])
    assert store.champion("champion").version == 2
    store.promote("champion", by_number[1])  # a rollback to an older version
    assert [(v.version, v.aliases) for v in store.versions()] == [
        (3, ()),
        (2, ()),
        (1, ("champion",)),
    ]
    assert store.resolve(alias="champion").version == 1
    assert store.resolve(fallback_alias="champion").version == 1
    # A crash between tagging the new holder and untagging the old leaves two, the newest read
    # as the holder; promoting it again (the rerun) leaves it alone.
    client.set_model_version_tag(store.model_name, "2", "stockcast.alias.champion", "true")
    assert store.champion("champion").version == 2
    store.promote("champion", by_number[2])
    assert [v.version for v in store.versions() if "champion" in v.aliases] == [2]
    # A promotion the rerun declines takes its own tag off, if a crash left it one.
    client.set_model_version_tag(store.model_name, "3", "stockcast.alias.champion", "true")
    store.decline("champion", {v.version: v for v in store.versions()}[3])
    assert [v.version for v in store.versions() if "champion" in v.aliases] == [2]
    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", real_alias)
    store.promote("champion", by_number[3])
    assert [v.version for v in store.versions() if "champion" in v.aliases] == [3]


def test_a_registration_the_store_refuses_leaves_its_run_failed(
    seeded_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that refuses the version after the run has the files (a server error, a full
    disk) fails the registration; its run is FAILED, not left RUNNING for ever by a process that
    is still alive, and holds no version."""
    from mlflow.exceptions import MlflowException, get_error_code

    from tests.test_monitor import model_folder

    def refused(*args: object, **kwargs: object) -> None:
        raise MlflowException("try again later", error_code=get_error_code(503))

    store = registry(seeded_tmp, create=True)
    monkeypatch.setattr(MlflowClient, "create_model_version", refused)
    with pytest.raises(MlflowException, match="try again later"), store.writing():
        store.register(model_folder(seeded_tmp / "model", 0.0), {}, day="2026-06-30")
    assert runs_by_status(seeded_tmp) == {"FAILED": 1}
    assert store.versions() == []


def test_a_folder_whose_version_lost_its_run_for_good_registers_again(seeded_tmp: Path) -> None:
    """A version whose run `mlflow gc` deleted has no files: registering its folder again, as
    the refusal of that version advises, makes a new version (it failed with that same
    advice)."""
    import subprocess
    import sys

    from tests.test_monitor import model_folder

    store, folder = registry(seeded_tmp, create=True), model_folder(seeded_tmp / "model", 0.0)
    with store.writing():
        first, _ = store.register(folder, {}, promote=True)
        store.promote("champion", first)
    MlflowClient(store.tracking_uri).delete_run(first.run_id)
    uri = store.tracking_uri
    gc = [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", uri, "--tracking-uri", uri]
    subprocess.run(gc, check=True, capture_output=True)
    with store.writing():
        again, created = store.register(folder, {}, promote=True)
    assert (again.version, created) == (2, True)
