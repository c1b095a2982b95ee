"""scripts/signing_keys.py and the key pair it makes: written where the config reads it, kept
when found, made once when several run at once, and every folder or key it cannot use refused
in one sentence."""

from __future__ import annotations

import errno
import os
import re
import runpy
import shutil
import threading
from pathlib import Path

import pytest

from stockcast.errors import ConfigError
from stockcast.registry.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, create_key_pair
from tests.signing_helpers import pem_of


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
