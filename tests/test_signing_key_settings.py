"""The signing keys as settings: paths or PEM text, read by the local config once the pair
exists, and a missing, unreadable or unusable key refused in one sentence naming it, before a
registration or a pipeline's first step."""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from stockcast.config.compose import compose_config
from stockcast.errors import ConfigError
from stockcast.registry.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, create_key_pair
from stockcast.registry.signing import (
    SIGNATURE_FILE,
    SigningKeys,
    check_signing_keys,
    sign_folder,
    verify_folder,
)
from tests.conftest import MODEL, isolated_overrides
from tests.signing_helpers import (
    keys_fixture,  # noqa: F401 (fixture)
    model_folder_fixture,  # noqa: F401 (fixture)
    other_keys_fixture,  # noqa: F401 (fixture)
    pem_of,
    predict_cfg,
    register_step,
    signing,
    store_fixture,  # noqa: F401 (fixture)
)


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
