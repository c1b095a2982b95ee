"""The gate every reader of a registered version passes (registry/verified.py), on a store that
is nothing but a folder of files: it needs of a store only its download, its names for a version
and its keys. And the registry's modules import one another without a cycle."""

from __future__ import annotations

import ast
import errno
import fcntl
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stockcast.errors import ArtifactError, DamagedVersion
from stockcast.registry import private_root as private_root_module
from stockcast.registry.integrity import folder_contents
from stockcast.registry.private_root import owner_file, remove_abandoned_roots
from stockcast.registry.signing import SigningKeys
from stockcast.registry.verified import verified_folder
from stockcast.registry.versions import MANIFEST_TAG, MODEL_HASH_TAG, VersionInfo

REGISTRY = Path(__file__).parents[1] / "src" / "stockcast" / "registry"


class FolderStore:
    """A store whose one version's files are a folder on disk, downloaded by copying."""

    keys = SigningKeys()

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def download(self, info: VersionInfo, dst: str | Path) -> Path:
        target = Path(dst) / "model"
        if self.folder.is_dir():
            shutil.copytree(self.folder, target)
        else:
            target.mkdir(parents=True)  # what MLflow hands back for a folder that is gone
        return target

    def label(self, info: VersionInfo) -> str:
        return f"m version {info.version}"


@pytest.fixture
def registered(tmp_path: Path) -> tuple[FolderStore, VersionInfo]:
    folder = tmp_path / "store" / "model"
    (folder / "artifacts").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "artifacts" / "spec.json").write_text("{}")
    contents = folder_contents(folder)
    tags = {MODEL_HASH_TAG: contents.digest, MANIFEST_TAG: contents.manifest()}
    return FolderStore(folder), VersionInfo(3, (), tags, "run", "runs:/run/model")


def test_a_version_holding_its_registered_files_is_copied_privately(
    registered: tuple[FolderStore, VersionInfo], tmp_path: Path
) -> None:
    store, info = registered
    copy, digest = verified_folder(store, info, tmp_path / "work")
    assert digest == info.model_hash
    assert (copy / "artifacts" / "spec.json").read_text() == "{}"
    assert not copy.is_relative_to(tmp_path)  # a private copy, not the download


def test_changed_or_gone_files_are_refused_by_the_versions_name_not_a_folder(
    registered: tuple[FolderStore, VersionInfo], tmp_path: Path
) -> None:
    store, info = registered
    (store.folder / "MLmodel").write_text("flavors: {changed: true}\n")
    with pytest.raises(DamagedVersion) as caught:
        verified_folder(store, info, tmp_path / "changed")
    assert str(caught.value) == (
        "m version 3 does not match what was registered (changed MLmodel); it was modified after "
        "registration, so nothing in it is loaded: register the model again from its original "
        "folder."
    )
    shutil.rmtree(store.folder)
    with pytest.raises(DamagedVersion) as caught:
        verified_folder(store, info, tmp_path / "gone")
    assert str(caught.value) == (
        "m version 3 has no files in the store, so there is nothing to load; register the model "
        "again from its original folder."
    )


def test_a_version_without_a_whole_folder_hash_is_refused(
    registered: tuple[FolderStore, VersionInfo], tmp_path: Path
) -> None:
    store, _ = registered
    old = VersionInfo(3, (), {MODEL_HASH_TAG: "0123456789abcdef"}, None, "")
    with pytest.raises(ArtifactError, match=r"^m version 3 carries no hash of its whole folder"):
        verified_folder(store, old, tmp_path / "work")


def registry_imports() -> dict[str, set[str]]:
    """Each module of registry/ and the registry modules it imports."""
    graph: dict[str, set[str]] = {}
    for path in REGISTRY.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            found |= {n.split(".")[2] for n in names if n.startswith("stockcast.registry.")}
        graph[path.stem] = found & {p.stem for p in REGISTRY.glob("*.py")}
    return graph


def test_the_registry_modules_import_one_another_without_a_cycle() -> None:
    graph = registry_imports()
    assert "verified" in graph["store"] and "store" not in graph["verified"]
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join([*path, module])}"
        if module not in done:
            for imported in graph[module]:
                visit(imported, (*path, module))
            done.add(module)

    for module in graph:
        visit(module, ())


HOLD_A_COPY = (
    "import sys; from stockcast.registry.integrity import private_copy; "
    "copy, _ = private_copy(sys.argv[1]); print(copy.parent, flush=True); sys.stdin.read()"
)


def _holding_a_copy(folder: Path, temporary: Path) -> tuple[subprocess.Popen[str], Path]:
    """A process that has copied `folder` privately and waits for its stdin to close."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_COPY, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temporary)},
    )
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_copies_a_killed_process_left_are_removed_by_the_next_and_a_live_ones_kept(
    tmp_path: Path,
) -> None:
    """SIGKILL runs no exit handler, so a killed process's copies stay behind (in memory, where
    the temporary folder is a tmpfs) until the next process that copies a model removes them;
    a live process's copies are never touched."""
    folder, temporary = tmp_path / "folder", tmp_path / "tmp"
    folder.mkdir()
    temporary.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    live, live_root = _holding_a_copy(folder, temporary)
    killed, killed_root = _holding_a_copy(folder, temporary)
    killed.kill()
    killed.wait()
    assert (killed_root / next(p.name for p in killed_root.iterdir()) / "MLmodel").is_file()

    assert remove_abandoned_roots(temporary) == [killed_root]
    assert not killed_root.exists() and not owner_file(killed_root).exists()
    assert owner_file(live_root).is_file() and any(live_root.iterdir())

    killed, killed_root = _holding_a_copy(folder, temporary)
    killed.kill()
    killed.wait()
    after, _ = _holding_a_copy(folder, temporary)  # its first copy sweeps the killed one's
    after.communicate("")
    live.communicate("")
    assert after.returncode == live.returncode == 0
    assert not list(temporary.iterdir()), "every root and owner file is gone"


def test_the_sweep_leaves_alone_what_is_not_an_abandoned_root_of_this_user(tmp_path: Path) -> None:
    """Anyone can put names the sweep looks for in a shared /tmp: none of them fails a load or is
    followed."""
    (tmp_path / "stockcast-verified-folder.owner").mkdir()
    os.mkfifo(tmp_path / "stockcast-verified-pipe.owner")  # opening it would wait for a writer
    kept = tmp_path / "stockcast-verified-linked"
    kept.mkdir()
    owner_file(kept).symlink_to(tmp_path / "stockcast-verified-folder.owner")
    swept: list[list[Path]] = []
    sweep = threading.Thread(
        target=lambda: swept.append(remove_abandoned_roots(tmp_path)), daemon=True
    )
    sweep.start()
    sweep.join(timeout=10)  # a sweep that opened the FIFO would wait for a writer for good
    assert swept == [[]]
    assert kept.is_dir()


def test_a_temporary_folder_that_locks_nothing_still_takes_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(descriptor: int, operation: int) -> None:
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    monkeypatch.setattr(fcntl, "flock", unsupported)
    root = tmp_path / "stockcast-verified-root"
    root.mkdir()
    assert private_root_module._claim(root) is None
    assert list(tmp_path.iterdir()) == [root], "no owner file, staged or named"


def test_a_forked_child_removes_none_of_its_parents_copies() -> None:
    root = private_root_module.private_root()
    child = os.fork()
    if child == 0:  # the child ends as a child of a process holding copies would
        private_root_module.remove_private_copies()
        os._exit(0)
    os.waitpid(child, 0)
    assert root.is_dir() and owner_file(root).is_file()
