"""Signed versions: the register side signs with its private key, every client verifies against
a public key configured outside the store, so rewriting a version's files and its hash tags
together no longer gets planted code run. Without a public key the hash check is all there is."""

from __future__ import annotations

import base64
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from stockcast.errors import ArtifactError
from stockcast.evaluation.champion_score import Candidate, compare_with_champion
from stockcast.registry.integrity import folder_contents
from stockcast.registry.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE
from stockcast.registry.signing import SIGNATURE_FILE, SigningKeys, sign_folder, verify_folder
from stockcast.registry.store import ModelRegistry
from stockcast.registry.versions import MANIFEST_TAG, MODEL_HASH_TAG
from stockcast.serving.model import open_model
from tests.conftest import MODEL, seed_store
from tests.signing_helpers import (
    key_overrides,
    keys_fixture,  # noqa: F401 (fixture)
    model_folder_fixture,  # noqa: F401 (fixture)
    other_keys_fixture,  # noqa: F401 (fixture)
    predict_cfg,
    refusal,
    register,
    register_step,
    signing,
    store_fixture,  # noqa: F401 (fixture)
    store_registry,
)

MARKER = "planted_code_ran.txt"
LABEL = f"{MODEL} version 1"
CHANGED = (
    f"{LABEL} is refused: its files differ from the signed ones (changed pyfunc_model.py), so it "
    "was changed after it was signed and nothing in it is loaded; register the model again from "
    "its original folder."
)
UNSIGNED = (
    f"{LABEL} carries no signature ({SIGNATURE_FILE}), so it is not loaded while "
    "registry.signing.public_key is set; register it again with registry.signing.private_key "
    "set (the register step signs it)."
)
WRONG_KEY = (
    f"{LABEL} is refused: its signature was made with another key than "
    "registry.signing.public_key, so nothing in it is loaded; set the public key of the pair "
    "that signs registrations, or register the model again with that pair."
)


def plant(registry: ModelRegistry, marker: Path) -> None:
    """The attack: code that runs on load added to the version's files, and its hash and
    manifest tags rewritten to match, with nothing but MLflow's client."""
    info = registry.resolve(version=1)
    folder = registry.download(info, marker.parent / "unused")
    with (folder / "pyfunc_model.py").open("a") as file:
        file.write(f"\nopen({str(marker)!r}, 'w').write('ran')\n")
    contents = folder_contents(folder)
    client = MlflowClient(registry.tracking_uri)
    client.set_model_version_tag(MODEL, "1", MODEL_HASH_TAG, contents.digest)
    client.set_model_version_tag(MODEL, "1", MANIFEST_TAG, contents.manifest())


def test_the_register_step_signs_and_predict_verifies(
    registered_store: Path, store: Path, keys: Path, tmp_path: Path
) -> None:
    ran = register_step(registered_store, store, tmp_path / "register", *key_overrides(keys))
    assert ran["registered"] and ran["version"] == 1
    registry = store_registry(store, SigningKeys())
    info = registry.resolve(version=1)
    assert (registry.download(info, tmp_path / "d") / SIGNATURE_FILE).is_file()
    cfg = predict_cfg(store, f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}")
    model = open_model(cfg, tmp_path / "open")
    assert model.version == 1
    assert not (model.folder / SIGNATURE_FILE).exists()  # the signature is not part of the model


def test_files_and_tags_changed_together_are_refused_and_nothing_planted_runs(
    store: Path, model_folder: Path, keys: Path, tmp_path: Path
) -> None:
    registry = register(store, model_folder, signing(keys))
    marker = tmp_path / MARKER
    plant(registry, marker)
    cfg = predict_cfg(store, f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}")
    with pytest.raises(ArtifactError) as caught:
        open_model(cfg, tmp_path / "open")
    assert str(caught.value) == CHANGED
    # The champion comparison of the next registration opens it the same way, and finds no
    # model to keep.
    verifier = store_registry(store, signing(keys, private=False))
    candidate = Candidate(tmp_path, tmp_path, {}, tmp_path / "work")
    compared = compare_with_champion(verifier, verifier.resolve(version=1), candidate)
    assert compared.damaged == "changed pyfunc_model.py"
    assert not marker.exists()


def test_a_version_whose_run_the_tracking_store_lacks_is_one_sentence(
    registered_store: Path, store_template: Path, tmp_path: Path
) -> None:
    """registry.registry_uri naming another store than the runs': MLflow's traceback."""
    from stockcast.errors import StockcastError

    runs = seed_store(store_template, tmp_path / "runs")
    registry_uri = f"sqlite:///{registered_store}/mlruns.db"
    cfg = predict_cfg(runs, f"registry.registry_uri={registry_uri}")
    with pytest.raises(StockcastError) as refused:
        open_model(cfg, tmp_path / "open")
    assert re.fullmatch(
        f"{MODEL} version 1 was registered from run [0-9a-f]{{32}}, which the tracking store "
        f"sqlite:///{re.escape(str(runs))}/mlruns.db does not hold \\(the registry is "
        f"{re.escape(registry_uri)}\\); set registry.tracking_uri to the store that holds its "
        "runs, or registry.registry_uri to the one beside them.",
        str(refused.value),
    ), str(refused.value)


def test_a_version_whose_run_was_deleted_from_its_own_store_says_to_register_again() -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    from stockcast.errors import StockcastError
    from stockcast.registry.artifacts import version_folder

    class Deleted:
        def get_model_version_download_uri(self, name: str, version: str) -> str:
            return "runs:/abc/model"

        def get_run(self, run_id: str) -> None:
            raise MlflowException(f"Run with id={run_id} not found", RESOURCE_DOES_NOT_EXIST)

    store = "sqlite:///store/mlruns.db"
    with pytest.raises(StockcastError) as refused:
        version_folder(Deleted(), store, store, "m", 3, "unused")
    assert str(refused.value) == (
        "m version 3 was registered from run abc, which the store sqlite:///store/mlruns.db no "
        "longer holds (deleted, as mlflow gc does); register the model again from its folder."
    )


def test_an_unsigned_version_is_refused_while_a_public_key_is_set(
    registered_store: Path, keys: Path, tmp_path: Path
) -> None:
    cfg = predict_cfg(registered_store, f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}")
    assert refusal(cfg, tmp_path) == UNSIGNED


def test_a_version_signed_with_another_key_is_refused(
    store: Path, model_folder: Path, keys: Path, other_keys: Path, tmp_path: Path
) -> None:
    register(store, model_folder, signing(other_keys))
    cfg = predict_cfg(store, f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}")
    assert refusal(cfg, tmp_path) == WRONG_KEY


def test_without_a_public_key_only_the_hash_is_checked(
    registered_store: Path,
    store: Path,
    model_folder: Path,
    keys: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Unsigned and signed versions both open; the hash still refuses files changed alone.
    assert open_model(predict_cfg(registered_store), tmp_path / "a").version == 1
    assert "is signed, but" not in caplog.text
    registry = register(store, model_folder, signing(keys))
    with caplog.at_level(logging.WARNING, logger="stockcast.registry.verified"):
        assert open_model(predict_cfg(store), tmp_path / "b").version == 1
    # A signed version opened unverified says so (a moved key folder turns the check off).
    assert f"{LABEL} is signed, but registry.signing.public_key is not set" in caplog.text
    folder = registry.download(registry.resolve(version=1), tmp_path / "d")
    with (folder / "MLmodel").open("a") as file:
        file.write("\n")
    with pytest.raises(ArtifactError, match=f"{LABEL} does not match .*changed MLmodel"):
        open_model(predict_cfg(store), tmp_path / "c")


DAMAGED = (
    f"{LABEL} does not match what was registered (changed pyfunc_model.py); it was modified "
    "after registration, so nothing in it is loaded: register the model again from its original "
    "folder."
)
GONE = (
    f"{LABEL} has no files in the store, so there is nothing to load; register the model again "
    "from its original folder."
)


def as_remote_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's files reached as on a remote store: downloaded into a temporary folder."""
    monkeypatch.setattr("stockcast.registry.artifacts.local_path", lambda uri, tracking: None)


@pytest.mark.parametrize("reached", ["local", "remote"])
def test_a_damaged_version_opened_without_keys_is_refused_by_name_and_version(
    store: Path, model_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reached: str
) -> None:
    """The refusal named the folder the version was downloaded into, a temporary folder gone by
    the time it is read, instead of what the user asked for."""
    registry = register(store, model_folder, SigningKeys())
    folder = registry.download(registry.resolve(version=1), tmp_path / "unused")
    with (folder / "pyfunc_model.py").open("a") as file:
        file.write("\n")
    if reached == "remote":
        as_remote_store(monkeypatch)
    assert refusal(predict_cfg(store), tmp_path) == DAMAGED


@pytest.mark.parametrize("reached", ["local", "remote"])
def test_a_version_whose_files_are_gone_is_one_sentence_and_mlflow_says_nothing(
    store: Path,
    model_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    reached: str,
) -> None:
    """MLflow's "No artifacts found to download" line came before the refusal, which named a
    temporary folder."""
    registry = register(store, model_folder, SigningKeys())
    shutil.rmtree(registry.download(registry.resolve(version=1), tmp_path / "unused"))
    if reached == "remote":
        as_remote_store(monkeypatch)
    seen: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    mlflow_logger = logging.getLogger("mlflow.store.artifact.artifact_repo")
    mlflow_logger.addHandler(handler)
    capfd.readouterr()
    try:
        assert refusal(predict_cfg(store), tmp_path) == GONE
    finally:
        mlflow_logger.removeHandler(handler)
    assert not [line for line in seen if "No artifacts found" in line]
    assert "No artifacts found" not in capfd.readouterr().err


def test_registering_an_unsigned_version_again_with_a_key_signs_it(
    registered_store: Path, store: Path, keys: Path, tmp_path: Path
) -> None:
    register_step(registered_store, store, tmp_path / "unsigned")
    cfg = predict_cfg(store, f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}")
    with pytest.raises(ArtifactError, match="carries no signature"):
        open_model(cfg, tmp_path / "refused")
    again = register_step(registered_store, store, tmp_path / "again", *key_overrides(keys))
    assert again["message"].startswith(
        f"{LABEL} already holds this model (registered unsigned, it is signed now); nothing"
    )
    assert open_model(cfg, tmp_path / "open").version == 1


def test_signing_and_verifying_hash_each_file_of_the_folder_once(
    model_folder: Path, keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What keeps them cheap (`make bench`'s predict rows time them): each file of the folder is
    read once per signature and once per check, and nothing outside it."""
    from model_signing._hashing import io

    hashed: list[Path] = []
    compute = io.SimpleFileHasher.compute

    def counted(self: io.SimpleFileHasher) -> Any:
        hashed.append(Path(self._file))
        return compute(self)

    monkeypatch.setattr(io.SimpleFileHasher, "compute", counted)
    files = sorted(path for path in model_folder.rglob("*") if path.is_file())
    signature = tmp_path / SIGNATURE_FILE
    sign_folder(model_folder, str(keys / PRIVATE_KEY_FILE), signature)
    assert sorted(hashed) == files
    hashed.clear()
    verify_folder(model_folder, signature, str(keys / PUBLIC_KEY_FILE), "the model")
    assert sorted(hashed) == files


def _add(folder: Path) -> None:
    (folder / "code" / "extra.py").write_text("print('planted')\n")


def _remove(folder: Path) -> None:
    (folder / "requirements.txt").unlink()


def _forge(folder: Path) -> None:
    """A signed statement changed (one byte added): the signature no longer matches it."""
    signature = folder.parent / SIGNATURE_FILE
    bundle = json.loads(signature.read_text())
    payload = base64.b64decode(bundle["dsseEnvelope"]["payload"]) + b" "
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(payload).decode()
    signature.write_text(json.dumps(bundle))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_add, "its files differ from the signed ones (added code/extra.py)"),
        (_remove, "its files differ from the signed ones (missing requirements.txt)"),
        (_forge, "its signature does not verify (InvalidSignature)"),
    ],
)
def test_every_kind_of_change_after_signing_is_one_sentence(
    model_folder: Path, keys: Path, tmp_path: Path, change, reason: str
) -> None:
    folder = Path(shutil.copytree(model_folder, tmp_path / "model"))
    signature = tmp_path / SIGNATURE_FILE
    sign_folder(folder, str(keys / PRIVATE_KEY_FILE), signature)
    change(folder)
    with pytest.raises(ArtifactError) as caught:
        verify_folder(folder, signature, str(keys / PUBLIC_KEY_FILE), "the model")
    message = str(caught.value)
    assert message.startswith(f"the model is refused: {reason}") and "\n" not in message


def test_the_changed_file_is_named_whatever_quotes_the_library_message_takes() -> None:
    """The library's message is a list's repr: a digest whose bytes hold a double quote makes
    Python escape the entry's single quotes, and the file must still be named."""
    from stockcast.registry.signing import _files

    escaped = str(["Hash mismatch for 'pyfunc_model.py': Expected 'Digest(b\"\\x01\")'"])
    assert "\\'" in escaped
    plain = str(
        ["Hash mismatch for 'pyfunc_model.py': Expected x", "Missing files in model 'm': c.py"]
    )
    assert _files(escaped) == "changed pyfunc_model.py"
    assert _files(plain) == "changed pyfunc_model.py; missing c.py"


def test_registering_a_version_again_after_the_keys_changed_signs_it_with_the_new_pair(
    store: Path, model_folder: Path, keys: Path, other_keys: Path, tmp_path: Path
) -> None:
    """A replaced pair left every version refused, and registering one again (the refusal's
    advice) did nothing, as it was already signed."""
    register(store, model_folder, signing(other_keys))
    cfg = predict_cfg(store, f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}")
    assert refusal(cfg, tmp_path) == WRONG_KEY
    registry = store_registry(store, signing(keys))
    with registry.writing():
        info, created = registry.register(model_folder, {"refit": "true"})
    assert (info.version, created) == (1, False)
    assert open_model(cfg, tmp_path / "open").version == 1


@pytest.mark.parametrize(
    ("first", "signed_again"), [("unsigned", True), ("other pair", True), ("this pair", False)]
)
def test_registering_a_folder_again_downloads_its_version_once(
    store: Path,
    model_folder: Path,
    keys: Path,
    other_keys: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    first: str,
    signed_again: bool,
) -> None:
    """The version holding the folder was downloaded to compare its files, then once more to
    read its signature: the whole folder twice over the network of a remote store."""
    pairs = {"unsigned": None, "other pair": other_keys, "this pair": keys}
    register(store, model_folder, signing(pairs[first]))
    downloads: list[int] = []
    signed: list[str] = []
    download, log_signature = ModelRegistry.download, ModelRegistry.log_signature

    def counted(self: ModelRegistry, info: Any, dst: str | Path) -> Path:
        downloads.append(info.version)
        return download(self, info, dst)

    def logged(self: ModelRegistry, run_id: str, model_dir: Path) -> None:
        signed.append(run_id)
        log_signature(self, run_id, model_dir)

    monkeypatch.setattr(ModelRegistry, "download", counted)
    monkeypatch.setattr(ModelRegistry, "log_signature", logged)
    registry = store_registry(store, signing(keys))
    with registry.writing():
        info, created = registry.register(model_folder, {"refit": "true"})
    assert (info.version, created) == (1, False)
    assert downloads == [1] and bool(signed) == signed_again
    verifier = store_registry(store, signing(keys, private=False))
    verifier.verified_folder(verifier.resolve(version=1), tmp_path / "verified")
