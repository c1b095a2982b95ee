"""Signed versions: the register side signs with its private key, every client verifies against
a public key configured outside the store, so rewriting a version's files and its hash tags
together no longer gets planted code run. Without a public key the hash check is all there is."""

from __future__ import annotations

import base64
import errno
import json
import logging
import os
import re
import runpy
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from stockcast.config.compose import compose_config
from stockcast.errors import ArtifactError, ConfigError, DamagedVersion
from stockcast.evaluation.champion_score import Candidate, compare_with_champion
from stockcast.orchestration.steps.register import run_register
from stockcast.registry.integrity import folder_contents
from stockcast.registry.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, create_key_pair
from stockcast.registry.signing import (
    SIGNATURE_FILE,
    SigningKeys,
    check_signing_keys,
    sign_folder,
    verify_folder,
)
from stockcast.registry.store import ModelRegistry
from stockcast.registry.versions import MANIFEST_TAG, MODEL_HASH_TAG
from stockcast.serving.model import open_model
from tests.conftest import LENIENT_GATE, MODEL, isolated_overrides, run_task, seed_store

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


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_key_pair(tmp_path_factory.mktemp("keys"))[0].parent


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_key_pair(tmp_path_factory.mktemp("other_keys"))[0].parent


def signing(folder: Path | None, private: bool = True) -> SigningKeys:
    if folder is None:
        return SigningKeys()
    return SigningKeys(
        str(folder / PRIVATE_KEY_FILE) if private else None, str(folder / PUBLIC_KEY_FILE)
    )


def store_registry(store: Path, keys: SigningKeys, create: bool = False) -> ModelRegistry:
    return ModelRegistry(
        f"sqlite:///{store}/mlruns.db",
        MODEL,
        artifact_location=f"{store}/mlartifacts",
        create=create,
        keys=keys,
    )


@pytest.fixture(scope="module")
def model_folder(registered_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the session's registered version 1 (a refit, `evaluated/` inside)."""
    registry = store_registry(registered_store, SigningKeys())
    return registry.download(registry.resolve(version=1), tmp_path_factory.mktemp("download"))


def register(store: Path, folder: Path, keys: SigningKeys) -> ModelRegistry:
    registry = store_registry(store, keys, create=True)
    with registry.writing():
        registry.register(folder, {"refit": "true"})
    return registry


@pytest.fixture
def store(tmp_path: Path, store_template: Path) -> Path:
    return seed_store(store_template, tmp_path / "store")


def predict_cfg(store: Path, *overrides: str):
    return compose_config("predict", [*isolated_overrides(store), *overrides])


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


def register_step(registered_store: Path, store: Path, run_dir: Path, *overrides: str) -> dict:
    """The register step (in this process) on the session pipeline's refit and report."""
    run = sorted((registered_store / "logs" / "pipeline" / "runs").iterdir())[0]
    return run_task(
        run_register,
        "pipeline",
        [
            *isolated_overrides(store),
            *LENIENT_GATE,
            f"register.model_dir={run / 'refit' / 'candidate'}",
            f"register.report_dir={run / 'evaluate' / 'report'}",
            *overrides,
        ],
        run_dir,
    ).value


def key_overrides(keys: Path) -> list[str]:
    return [
        f"registry.signing.private_key={keys / PRIVATE_KEY_FILE}",
        f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}",
    ]


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


def refusal(cfg: Any, tmp_path: Path) -> str:
    """The sentence opening the configured version is refused with."""
    with pytest.raises(ArtifactError) as caught:
        open_model(cfg, tmp_path / "open")
    return str(caught.value)


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


def test_the_default_local_config_uses_the_key_pair_once_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKCAST_KEYS_DIR", str(tmp_path / "keys"))
    cfg = predict_cfg(tmp_path)
    assert cfg.registry.signing.private_key is None and cfg.registry.signing.public_key is None
    private, public = create_key_pair(tmp_path / "keys")
    assert cfg.registry.signing.private_key == str(private)
    assert cfg.registry.signing.public_key == str(public)
    assert private.stat().st_mode & 0o777 == 0o600
    before = private.read_bytes()
    create_key_pair(tmp_path / "keys")
    assert private.read_bytes() == before  # an existing pair is kept


def test_keys_may_be_given_as_pem_text_and_a_missing_key_file_is_one_sentence(
    model_folder: Path, keys: Path, tmp_path: Path
) -> None:
    signature = tmp_path / SIGNATURE_FILE
    sign_folder(model_folder, (keys / PRIVATE_KEY_FILE).read_text(), signature)
    public = (keys / PUBLIC_KEY_FILE).read_text()
    verify_folder(model_folder, signature, public, "the model")
    with pytest.raises(ConfigError) as caught:
        verify_folder(model_folder, signature, str(tmp_path / "nope.pub"), "the model")
    assert str(caught.value) == (
        f"registry.signing.public_key is {tmp_path / 'nope.pub'}, which is not a file; give the "
        "path of a PEM key (`make` creates keys/model-signing.key and .pub) or the PEM text "
        "itself."
    )


def test_a_key_setting_naming_a_folder_or_a_link_to_nowhere_says_so(
    model_folder: Path, keys: Path, tmp_path: Path
) -> None:
    """A private key setting naming a folder was refused as "neither a file nor PEM text",
    without the path; a public key's folder or link to nowhere as "which is not a file"."""
    advice = (
        "; give the path of a PEM key (`make` creates keys/model-signing.key and .pub) or the "
        "PEM text itself."
    )
    folder, link = tmp_path / "a_folder", tmp_path / "gone.pem"
    folder.mkdir()
    link.symlink_to(tmp_path / "unmounted.pem")
    nowhere = f"{link} is a symbolic link to {tmp_path / 'unmounted.pem'}, which does not exist"
    private, public = str(keys / PRIVATE_KEY_FILE), str(keys / PUBLIC_KEY_FILE)
    for given, setting, what in [
        (SigningKeys(str(folder), public), "private_key", f"{folder} is a folder, not a key file"),
        (SigningKeys(private, str(folder)), "public_key", f"{folder} is a folder, not a key file"),
        (SigningKeys(str(link), public), "private_key", nowhere),
        (SigningKeys(private, str(link)), "public_key", nowhere),
    ]:
        with pytest.raises(ConfigError) as caught:
            check_signing_keys(given)
        assert str(caught.value) == f"registry.signing.{setting} {what}{advice}"


def test_a_public_key_file_that_holds_no_key_is_named(
    model_folder: Path, keys: Path, tmp_path: Path
) -> None:
    """A broken public key file was refused as 'registry.signing.public_key is not an EC public
    key', without its path: the local config reads keys/ or STOCKCAST_KEYS_DIR by default, so the
    user had no way to tell which file to mend."""
    signature = tmp_path / SIGNATURE_FILE
    sign_folder(model_folder, str(keys / PRIVATE_KEY_FILE), signature)
    broken = tmp_path / PUBLIC_KEY_FILE
    broken.write_text("junk\n")
    expected = (
        f"^registry.signing.public_key {re.escape(str(broken))} is not an EC public key in PEM "
    )
    with pytest.raises(ConfigError, match=expected):
        verify_folder(model_folder, signature, str(broken), "the model")
    with pytest.raises(ConfigError, match=expected):
        check_signing_keys(SigningKeys(str(keys / PRIVATE_KEY_FILE), str(broken)))
    text = "-----BEGIN PUBLIC KEY-----\njunk\n-----END PUBLIC KEY-----\n"
    with pytest.raises(ConfigError, match=r"^registry.signing.public_key is not an EC public key"):
        verify_folder(model_folder, signature, text, "the model")


def test_a_public_key_of_a_kind_signing_does_not_take_is_named_as_that_kind(
    model_folder: Path, keys: Path, tmp_path: Path
) -> None:
    """An RSA public key was refused as "not an EC public key in PEM ('RSAPublicKey' object has
    no attribute 'curve')": the library's words for what is a key of another kind."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    signature = tmp_path / SIGNATURE_FILE
    sign_folder(model_folder, str(keys / PRIVATE_KEY_FILE), signature)
    others = {
        "an RSA key": rsa.generate_private_key(65537, 2048),
        "an EC key on secp256k1": ec.generate_private_key(ec.SECP256K1()),
    }
    for kind, private in others.items():
        path = tmp_path / "other.pub"
        path.write_bytes(
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        with pytest.raises(ConfigError) as refused:
            verify_folder(model_folder, signature, str(path), "the model")
        assert str(refused.value) == (
            f"registry.signing.public_key {path} is {kind}, which model signing does not verify "
            "with; give the public half of the signing key (python scripts/signing_keys.py "
            "writes a P-256 pair)."
        )


def test_a_key_file_this_user_cannot_read_is_said_to_be_unreadable(
    model_folder: Path, keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreadable public key was refused as 'not an EC public key in PEM (Permission
    denied...)', which sent the user to check the key's contents, not its permissions."""
    signature = tmp_path / SIGNATURE_FILE
    sign_folder(model_folder, str(keys / PRIVATE_KEY_FILE), signature)
    real_open = Path.open

    def denied(path: Path, *args: Any, **kwargs: Any) -> Any:
        if path.parent == keys:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(ConfigError) as caught:
        verify_folder(model_folder, signature, str(keys / PUBLIC_KEY_FILE), "the model")
    assert str(caught.value) == (
        f"registry.signing.public_key {keys / PUBLIC_KEY_FILE} cannot be read (Permission "
        "denied); run as the user who owns it, or give a key this user can read."
    )
    with pytest.raises(ConfigError, match=r"^registry.signing.private_key .* cannot be read "):
        check_signing_keys(signing(keys))


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


def test_the_key_script_takes_one_folder_and_no_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An option is not a folder: `--help` used to write a key pair into ./--help/."""
    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "signing_keys.py"))["main"]
    monkeypatch.chdir(tmp_path)
    assert main(["--help"]) == 0
    assert "python scripts/signing_keys.py [folder]" in capsys.readouterr().out
    assert main(["--force"]) == 2
    assert "takes one folder and no options, not '--force'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    # An empty argument (an unset shell variable, quoted) wrote the pair into the current folder.
    monkeypatch.setenv("STOCKCAST_KEYS_DIR", str(tmp_path / "keys"))
    assert main([""]) == 2
    assert capsys.readouterr().err == (
        "signing_keys.py was given an empty folder name; name a folder, or none for the default "
        f"({tmp_path / 'keys'}).\n"
    )
    assert list(tmp_path.iterdir()) == []
    assert main(["mine"]) == 0
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == sorted(
        [PRIVATE_KEY_FILE, PUBLIC_KEY_FILE]
    )


def test_the_key_script_warns_of_a_private_key_others_can_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing private key is kept as it is: one copied or unpacked readable by everyone was
    reported as kept secret, though README promises mode 0600."""
    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "signing_keys.py"))["main"]
    folder = tmp_path / "keys"
    assert main([str(folder)]) == 0
    assert capsys.readouterr().err == ""
    private = folder / PRIVATE_KEY_FILE
    private.chmod(0o644)
    assert main([str(folder)]) == 0
    assert capsys.readouterr().err == (
        f"warning: the private key {private} can be read by others than its owner (mode 0644), "
        f"and whoever reads it can sign models this project loads; run chmod 600 {private}.\n"
    )
    assert private.stat().st_mode & 0o777 == 0o644  # kept as it is: the owner decides


def test_the_key_script_writes_where_the_config_reads_the_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a folder it wrote ./keys wherever it was run: where nothing reads the pair and
    registrations went unsigned (STOCKCAST_KEYS_DIR and STOCKCAST_ROOT were ignored)."""
    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "signing_keys.py"))["main"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("STOCKCAST_KEYS_DIR", raising=False)
    monkeypatch.setenv("STOCKCAST_ROOT", str(tmp_path / "root"))
    assert main([]) == 0
    assert (tmp_path / "root" / "keys" / PRIVATE_KEY_FILE).is_file()
    monkeypatch.setenv("STOCKCAST_KEYS_DIR", str(tmp_path / "named"))
    assert main([]) == 0
    assert (tmp_path / "named" / PUBLIC_KEY_FILE).is_file()
    assert list(elsewhere.iterdir()) == []


def public_half(private: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_the_key_script_keeps_any_key_it_finds_and_survives_running_twice_at_once(
    tmp_path: Path,
) -> None:
    """A machine holding only the public key verifies: `make serve` there used to write a new
    pair over it, and every signed version was then refused. A missing public key is written
    again from the private one; several `make` targets creating the pair at once agree on one."""
    from concurrent.futures import ThreadPoolExecutor

    private, public = create_key_pair(tmp_path / "client")
    assert private is not None
    trusted = public.read_bytes()
    private.unlink()
    assert create_key_pair(tmp_path / "client") == (None, public)
    assert public.read_bytes() == trusted and not private.exists()

    private, public = create_key_pair(tmp_path / "signer")
    assert private is not None
    kept = public.read_bytes()
    public.unlink()
    assert create_key_pair(tmp_path / "signer") == (private, public)
    assert public.read_bytes() == kept

    folder = tmp_path / "raced"
    with ThreadPoolExecutor(4) as pool:
        pairs = list(pool.map(lambda _: create_key_pair(folder), range(8)))
    assert len(set(pairs)) == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted([PRIVATE_KEY_FILE, PUBLIC_KEY_FILE])
    assert public_half(folder / PRIVATE_KEY_FILE) == (folder / PUBLIC_KEY_FILE).read_bytes()


LINK_REFUSALS = [
    PermissionError(errno.EPERM, "Operation not permitted"),
    OSError(errno.ENOTSUP, "Operation not supported"),
    OSError(errno.EXDEV, "Invalid cross-device link"),
]


@pytest.mark.parametrize("refused", LINK_REFUSALS, ids=["EPERM", "ENOTSUP", "EXDEV"])
def test_a_folder_without_hard_links_gets_a_key_pair_and_keeps_a_rivals_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: OSError
) -> None:
    """The private key was linked into place: a file system without hard links (some network and
    FUSE mounts, some Windows setups) failed there with a traceback."""
    from concurrent.futures import ThreadPoolExecutor

    def no_links(source: object, target: object) -> None:
        raise refused

    monkeypatch.setattr(os, "link", no_links)
    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "signing_keys.py"))
    assert script["main"]([str(tmp_path / "mine")]) == 0
    private = tmp_path / "mine" / PRIVATE_KEY_FILE
    assert private.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in private.parent.iterdir()) == [PRIVATE_KEY_FILE, PUBLIC_KEY_FILE]
    assert public_half(private) == (private.parent / PUBLIC_KEY_FILE).read_bytes()

    folder = tmp_path / "raced"
    with ThreadPoolExecutor(4) as pool:
        pairs = list(pool.map(lambda _: create_key_pair(folder), range(8)))
    assert len(set(pairs)) == 1
    assert sorted(p.name for p in folder.iterdir()) == [PRIVATE_KEY_FILE, PUBLIC_KEY_FILE]
    assert public_half(folder / PRIVATE_KEY_FILE) == (folder / PUBLIC_KEY_FILE).read_bytes()

    # Another process's key lands between this one's look and its write: it is kept.
    rivals = create_key_pair(tmp_path / "rival")[0]
    assert rivals is not None

    def rival_wins(source: object, target: object) -> None:
        Path(str(target)).write_bytes(rivals.read_bytes())
        raise refused

    monkeypatch.setattr(os, "link", rival_wins)
    private, public = create_key_pair(tmp_path / "late")
    assert private is not None and private.read_bytes() == rivals.read_bytes()
    assert public.read_bytes() == public_half(rivals)


def test_a_private_key_still_being_written_is_read_once_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without hard links a racing process writes its key in place: read half-written, loading
    it failed, and a key cut short for good is one sentence."""
    whole = create_key_pair(tmp_path / "whole")[0]
    assert whole is not None
    pem = whole.read_bytes()
    folder = tmp_path / "writing"
    folder.mkdir()
    (folder / PRIVATE_KEY_FILE).write_bytes(pem[: len(pem) // 2])
    finish = threading.Timer(0.2, (folder / PRIVATE_KEY_FILE).write_bytes, [pem])
    finish.start()
    try:
        private, public = create_key_pair(folder)
    finally:
        finish.join()
    assert private is not None and private.read_bytes() == pem
    assert public.read_bytes() == public_half(whole)

    monkeypatch.setattr("stockcast.registry.keys.WHOLE_KEY_WAIT_S", 0.1)
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / PRIVATE_KEY_FILE).write_bytes(pem[: len(pem) // 2])
    with pytest.raises(ConfigError) as caught:
        create_key_pair(cut)
    assert str(caught.value) == (
        f"the private key {cut / PRIVATE_KEY_FILE} is not a whole PEM key (cut short, or not a "
        "key), so no public key is made from it; delete it and run python "
        "scripts/signing_keys.py again."
    )
    assert not (cut / PUBLIC_KEY_FILE).exists()


def pem_of(key: Any, password: bytes | None = None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def test_a_key_folder_the_script_cannot_use_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password-protected or RSA private key without its public key, one this user cannot
    read, and a key folder it cannot write each ended the script in a traceback (TypeError,
    PermissionError), and an RSA key got a public key as if it could sign."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    for name, pem, expected in [
        (
            "locked",
            pem_of(ec.generate_private_key(ec.SECP256R1()), b"secret"),
            "is protected by a password, which signing cannot give; give an EC (P-256, P-384 "
            "or P-521) private key in PEM without a password",
        ),
        (
            "rsa",
            pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "is an RSA key, which model signing does not take",
        ),
    ]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / PRIVATE_KEY_FILE).write_bytes(pem)
        with pytest.raises(ConfigError, match=f"^the private key {folder / PRIVATE_KEY_FILE} "):
            create_key_pair(folder)
        with pytest.raises(ConfigError, match=re.escape(expected)):
            create_key_pair(folder)
        assert not (folder / PUBLIC_KEY_FILE).exists()

    unreadable = create_key_pair(tmp_path / "unreadable")[0]
    assert unreadable is not None
    (tmp_path / "unreadable" / PUBLIC_KEY_FILE).unlink()
    real_read = Path.read_bytes

    def denied(path: Path) -> bytes:
        if path == unreadable:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ConfigError) as caught:
        create_key_pair(tmp_path / "unreadable")
    assert str(caught.value).startswith(
        f"cannot read the private key {unreadable} (Permission denied), so no public key is made"
    )
    monkeypatch.undo()

    def no_new_files(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", no_new_files)
    (tmp_path / "theirs").mkdir()
    with pytest.raises(ConfigError) as caught:
        create_key_pair(tmp_path / "theirs")
    assert str(caught.value) == (
        f"cannot write the private key {tmp_path / 'theirs' / PRIVATE_KEY_FILE} (Permission "
        "denied); name a folder this user can write (python scripts/signing_keys.py <folder>, "
        "or STOCKCAST_KEYS_DIR)."
    )


def test_a_folder_where_the_private_key_goes_is_named_as_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder at keys/model-signing.key was refused as "cannot read the private key ... (Is a
    directory) ...; run this as the user who owns it": advice no user could follow."""
    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "signing_keys.py"))["main"]
    private = tmp_path / "keys" / PRIVATE_KEY_FILE
    private.mkdir(parents=True)
    assert main([str(tmp_path / "keys")]) == 2
    assert capsys.readouterr().err == (
        f"error: the private key {private} is a folder, not a key file, so no key is written "
        "there; move that folder away, or name another key folder (python "
        "scripts/signing_keys.py <folder>, or STOCKCAST_KEYS_DIR).\n"
    )
    assert sorted(p.name for p in private.parent.iterdir()) == [PRIVATE_KEY_FILE]


def test_a_key_folder_that_links_to_nowhere_names_the_missing_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key folder that is a symbolic link to a folder not there (an unmounted drive, a moved
    folder) was refused as "cannot create the key folder ... (File exists)"."""
    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "signing_keys.py"))["main"]
    link = tmp_path / "keys"
    link.symlink_to(tmp_path / "unmounted" / "keys")
    advice = "or name another key folder (python scripts/signing_keys.py <folder>, or "
    target = tmp_path / "unmounted" / "keys"
    for folder, what in [
        (link, f"{link}"),
        (link / "inner", f"{link / 'inner'} cannot be made: {link}"),
    ]:
        assert main([str(folder)]) == 2
        assert capsys.readouterr().err == (
            f"error: the key folder {what} is a symbolic link to {target}, which does not exist; "
            f"create {target}, {advice}STOCKCAST_KEYS_DIR).\n"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys"]
    target.mkdir(parents=True)
    assert main([str(link)]) == 0
    assert sorted(p.name for p in target.iterdir()) == [PRIVATE_KEY_FILE, PUBLIC_KEY_FILE]


def test_a_key_that_links_to_nowhere_names_the_missing_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A private key linked to a file not there was refused as "cannot read the private key ...
    (No such file or directory) ...; run this as the user who owns it", and a public key's link
    was replaced by a new public key file."""
    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "signing_keys.py"))["main"]
    advice = "remove the link, or name another key folder (python scripts/signing_keys.py "
    for name, what in [(PRIVATE_KEY_FILE, "private"), (PUBLIC_KEY_FILE, "public")]:
        folder = tmp_path / what
        folder.mkdir()
        target = tmp_path / "unmounted" / name
        (folder / name).symlink_to(target)
        assert main([str(folder)]) == 2
        assert capsys.readouterr().err == (
            f"error: the {what} key {folder / name} is a symbolic link to {target}, which does "
            f"not exist; restore {target}, {advice}<folder>, or STOCKCAST_KEYS_DIR).\n"
        )
        assert [p.name for p in folder.iterdir()] == [name] and (folder / name).is_symlink()
    keys = create_key_pair(tmp_path / "signer")[0]
    assert keys is not None
    (tmp_path / "unmounted").mkdir()
    shutil.copy(keys, tmp_path / "unmounted" / PRIVATE_KEY_FILE)
    assert main([str(tmp_path / "private")]) == 0
    assert (tmp_path / "private" / PUBLIC_KEY_FILE).read_bytes() == public_half(keys)


def test_a_folder_where_the_public_key_goes_is_named_as_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder at keys/model-signing.pub ended the script in a traceback (IsADirectoryError
    from moving the public key into place), after a new private key had been made."""
    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "signing_keys.py"))["main"]
    for name, private_key in [("new", False), ("kept", True)]:
        folder = tmp_path / name
        if private_key:
            create_key_pair(folder)
            (folder / PUBLIC_KEY_FILE).unlink()
        public = folder / PUBLIC_KEY_FILE
        public.mkdir(parents=True)
        assert main([str(folder)]) == 2
        assert capsys.readouterr().err == (
            f"error: the public key {public} is a folder, not a key file, so no public key is "
            "written there; move that folder away, or name another key folder (python "
            "scripts/signing_keys.py <folder>, or STOCKCAST_KEYS_DIR).\n"
        )
        kept = [PRIVATE_KEY_FILE, PUBLIC_KEY_FILE] if private_key else [PUBLIC_KEY_FILE]
        assert sorted(p.name for p in folder.iterdir()) == kept
        assert list(public.iterdir()) == []


def test_a_file_where_the_key_folder_goes_is_named_as_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`signing_keys.py <a file>` said "cannot create the key folder ... (File exists)", and a
    folder inside a file "(Not a directory)": neither said the path was a file."""
    main = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "signing_keys.py"))["main"]
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    advice = "not a folder; name a folder (python scripts/signing_keys.py <folder>, or "
    assert main([str(a_file)]) == 2
    assert capsys.readouterr().err == (
        f"error: the key folder {a_file} is a file, {advice}STOCKCAST_KEYS_DIR).\n"
    )
    assert main([str(a_file / "keys")]) == 2
    assert capsys.readouterr().err == (
        f"error: the key folder {a_file / 'keys'} cannot be made: {a_file} is a file, {advice}"
        "STOCKCAST_KEYS_DIR).\n"
    )
    assert a_file.read_text() == ""


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


def test_a_damaged_champion_is_registered_again_as_a_new_version_that_replaces_it(
    registered_store: Path, store: Path, keys: Path, tmp_path: Path
) -> None:
    """Registering the original folder found the damaged version by the hash in its tags and
    registered nothing; the champion comparison of every later registration then failed."""
    first = register_step(registered_store, store, tmp_path / "first", *key_overrides(keys))
    assert first["version"] == 1 and first["decision"]["promote"]
    registry = store_registry(store, signing(keys))
    folder = registry.download(registry.resolve(version=1), tmp_path / "unused")
    (folder / "pyfunc_model.py").write_text("# lost\n")
    again = register_step(registered_store, store, tmp_path / "again", *key_overrides(keys))
    assert again["registered"] and again["version"] == 2
    assert again["decision"]["promote"]
    assert again["decision"]["reasons"][0] == (
        "champion version 1's files were changed or lost since it was registered (changed "
        "pyfunc_model.py), so the candidate takes its place"
    )
    cfg = predict_cfg(store, f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}")
    assert open_model(cfg, tmp_path / "open").version == 2
    # A damaged champion is no refusal before a pipeline's first step: register replaces it.
    from stockcast.orchestration.preflight import check_champion_opens

    pipeline_cfg = compose_config("pipeline", [*isolated_overrides(store), *key_overrides(keys)])
    folder = registry.download(registry.resolve(version=2), tmp_path / "unused2")
    (folder / "pyfunc_model.py").write_text("# lost\n")
    check_champion_opens(pipeline_cfg, tmp_path / "check")


@pytest.mark.parametrize("signed", ["unsigned", "with another pair"])
def test_a_champion_changed_since_it_was_registered_is_replaced_whatever_its_signature(
    registered_store: Path,
    store: Path,
    keys: Path,
    other_keys: Path,
    tmp_path: Path,
    signed: str,
) -> None:
    """A champion registered unsigned or with a replaced pair, whose files then changed, was
    refused for its signature: registering its original folder again (the advice) passed it
    over as changed and was refused by the champion comparison in the same words, every time."""
    first_keys = key_overrides(other_keys) if signed == "with another pair" else []
    first = register_step(registered_store, store, tmp_path / "first", *first_keys)
    assert first["version"] == 1 and first["decision"]["promote"]
    registry = store_registry(store, SigningKeys())
    folder = registry.download(registry.resolve(version=1), tmp_path / "unused")
    (folder / "pyfunc_model.py").write_text("# lost\n")
    cfg = predict_cfg(store, "model.version=1", *key_overrides(keys))
    assert "(changed pyfunc_model.py)" in refusal(cfg, tmp_path / "refused")
    again = register_step(registered_store, store, tmp_path / "again", *key_overrides(keys))
    assert again["registered"] and again["version"] == 2
    assert again["decision"]["reasons"][0] == (
        "champion version 1's files were changed or lost since it was registered (changed "
        "pyfunc_model.py), so the candidate takes its place"
    )
    champion_cfg = predict_cfg(store, f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}")
    assert open_model(champion_cfg, tmp_path / "open").version == 2


def test_a_champion_refused_for_its_key_stays_champion(
    registered_store: Path, store: Path, keys: Path, other_keys: Path, tmp_path: Path
) -> None:
    """A champion signed with another pair (or unsigned, before the keys) has its files: a
    setting, or registering it again, makes it usable, so no candidate replaces it unseen."""
    first = register_step(registered_store, store, tmp_path / "first", *key_overrides(other_keys))
    assert first["version"] == 1
    registry = store_registry(store, signing(keys, private=False))
    candidate = Candidate(tmp_path, tmp_path, {}, tmp_path / "work")
    with pytest.raises(ArtifactError, match="signature was made with another key") as caught:
        compare_with_champion(registry, registry.resolve(version=1), candidate)
    assert not isinstance(caught.value, DamagedVersion)
    # So a pipeline is refused before its first step, not at register after training again
    # every day; with the pair that signed it, it opens.
    from stockcast.orchestration.preflight import check_before_first_step

    def preflight(pair: Path) -> None:
        cfg = compose_config("pipeline", [*isolated_overrides(store), *key_overrides(pair)])
        check_before_first_step(cfg, tmp_path / "run")

    with pytest.raises(ArtifactError, match="signature was made with another key"):
        preflight(keys)
    preflight(other_keys)


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("public only", "registry.signing.public_key is set but registry.signing.private_key"),
        ("mismatched", "registry.signing.private_key and registry.signing.public_key are not one"),
    ],
)
def test_keys_that_would_register_refused_versions_are_refused_before_registering(
    registered_store: Path,
    store: Path,
    keys: Path,
    other_keys: Path,
    tmp_path: Path,
    which: str,
    expected: str,
) -> None:
    """Unsigned versions registered without a word, or a mismatched pair found only after the
    files were uploaded (a run left behind, a temporary folder named)."""
    private = f"registry.signing.private_key={other_keys / PRIVATE_KEY_FILE}"
    public = f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}"
    overrides = [public] if which == "public only" else [private, public]
    with pytest.raises(ConfigError, match=f"^{expected}"):
        register_step(registered_store, store, tmp_path / "register", *overrides)
    client = MlflowClient(f"sqlite:///{store}/mlruns.db")
    assert client.search_model_versions(f"name='{MODEL}'") == []
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


@pytest.mark.parametrize("kind", ["rsa pair", "rsa alone", "password alone"])
def test_a_private_key_the_library_cannot_sign_with_is_refused_before_a_pipeline_trains(
    tmp_path: Path, kind: str
) -> None:
    """An RSA pair, or an RSA or password-protected private key without a public key, passed
    the check before a pipeline's first step: it trained, evaluated and refitted, and the
    register step then failed in the library's words ('RSA' object has no attribute 'curve')."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from stockcast.orchestration.preflight import check_before_first_step

    if kind == "password alone":
        key: Any = ec.generate_private_key(ec.SECP256R1())
        private_pem, expected = pem_of(key, b"secret"), "is protected by a password"
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem, expected = pem_of(key), "is an RSA key, which model signing does not take"
    private = tmp_path / PRIVATE_KEY_FILE
    private.write_bytes(private_pem)
    overrides = [f"registry.signing.private_key={private}", "registry.signing.public_key=null"]
    if kind == "rsa pair":
        public = tmp_path / PUBLIC_KEY_FILE
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        overrides[1] = f"registry.signing.public_key={public}"
    cfg = compose_config("pipeline", [*isolated_overrides(tmp_path / "store"), *overrides])
    with pytest.raises(ConfigError, match=f"^registry.signing.private_key {expected}"):
        check_before_first_step(cfg, tmp_path / "run")


def test_a_champion_registered_with_truncated_weights_hands_its_place_over(
    store: Path, model_folder: Path, tmp_path: Path
) -> None:
    """Registered as it was, signed and matching its hash, it cannot be loaded: no key or
    package fixes that. The next registration's comparison used to fail on it, so every later
    registration failed too; the candidate now takes its place, saying why."""
    import shutil

    from stockcast.errors import UnloadableVersion

    broken = tmp_path / "broken"
    shutil.copytree(model_folder, broken)
    weights = broken / "artifacts" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    registry = register(store, broken, SigningKeys())
    candidate = Candidate(tmp_path, tmp_path, {}, tmp_path / "work")
    compared = compare_with_champion(registry, registry.resolve(version=1), candidate)
    assert compared.damaged_how == UnloadableVersion.how
    assert "weights.safetensors of pipeline_stock_predictor version 1 is missing" in str(
        compared.damaged
    )
    cfg = predict_cfg(store)
    with pytest.raises(ArtifactError, match=r"weights\.safetensors of pipeline_stock_predictor"):
        open_model(cfg, tmp_path / "open")


def test_a_champion_registered_by_hand_is_replaced_with_a_public_key_set(
    seeded_tmp: Path, keys: Path
) -> None:
    """Registered by hand, a champion carries neither a folder hash nor a signature. With a
    public key set (the local default once keys/ exists) the missing signature was refused
    first, as a refusal that keeps the champion: every registration's comparison failed on
    it, and registering again (its advice) made a new version that failed the same way."""
    from stockcast.errors import UnverifiableVersion
    from stockcast.evaluation.champion import decide
    from tests.test_horizon_change import GATE, candidate, champion_of, naive_folder

    by_hand = ModelRegistry(f"sqlite:///{seeded_tmp}/mlruns.db", MODEL, create=True)
    champion_of(by_hand, naive_folder(seeded_tmp / "hand", 5), 5)
    for tag in (MODEL_HASH_TAG, MANIFEST_TAG):
        by_hand.client().delete_model_version_tag(MODEL, "1", tag)
    registry = ModelRegistry(f"sqlite:///{seeded_tmp}/mlruns.db", MODEL, keys=signing(keys))
    decision = decide(GATE, registry, candidate(seeded_tmp / "c", 5, 0.1))
    assert decision["promote"] and decision["passed"]
    assert decision["reasons"][0].startswith(
        f"champion version 1's files {UnverifiableVersion.how} (no hash of its whole folder"
    )
