"""A local signing key pair (EC P-256, PEM): what `make` creates in keys/ on first use.

The private key signs at registration and never leaves this machine (git-ignored, left out of
the Azure ML code snapshot, readable by its owner only); the public key is what clients verify
against. An existing key is never overwritten: versions signed with it must stay verifiable, and
a public key alone is a machine that verifies and signs nothing.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from stockcast.errors import ConfigError, first_line
from stockcast.files import folder_not_made

PRIVATE_KEY_FILE = "model-signing.key"
PUBLIC_KEY_FILE = "model-signing.pub"
# Anyone may read the public key.
PUBLIC_KEY_MODE = 0o644
PRIVATE_KEY_MODE = 0o600
# The group's and everyone's bits: any of them set lets others than the owner at the private key.
OTHERS_MODE = 0o077
# How long a process waits for a racing one to finish writing the private key it created in place
# (only where the folder has no hard links): a few hundred bytes take milliseconds.
WHOLE_KEY_WAIT_S = 5.0
WHOLE_KEY_POLL_S = 0.02
PEM_END = b"-----END"
# The curves the model-signing library signs with (its sign_ec_key module).
SIGNING_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
WANTED_KEY = "an EC (P-256, P-384 or P-521) private key in PEM without a password"


def create_key_pair(folder: str | Path) -> tuple[Path | None, Path]:
    """`folder/model-signing.key` (mode 0600) and `.pub`, unless a key is there: an existing
    private key keeps its pair (its public key written again from it if missing), and a public
    key alone is left as it is (the private key returned is then None). Safe to run from several
    processes at once: one process's private key wins and is never overwritten, nothing reads it
    before it is whole, and every process writes the public key of the one that won."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = Path(folder)
    private_path, public_path = folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE
    if public_path.is_dir():  # said before a private key is made that no public key could join
        raise ConfigError(
            f"the public key {public_path} is a folder, not a key file, so no public key is "
            "written there; move that folder away, or name another key folder "
            "(python scripts/signing_keys.py <folder>, or STOCKCAST_KEYS_DIR)."
        )
    _refuse_a_link_to_nowhere(public_path, "public")
    if not private_path.is_file():
        if public_path.is_file():
            # A process creating the pair places its private key before writing the public one:
            # a public key that appeared since is that pair's, not a lone one.
            return (private_path if private_path.is_file() else None), public_path
        if private_path.is_dir():
            raise ConfigError(
                f"the private key {private_path} is a folder, not a key file, so no key is "
                "written there; move that folder away, or name another key folder "
                "(python scripts/signing_keys.py <folder>, or STOCKCAST_KEYS_DIR)."
            )
        _refuse_a_link_to_nowhere(private_path, "private")
        _make_folder(folder)
        key = ec.generate_private_key(ec.SECP256R1())
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _place_private_key(private_path, private_pem)
    if not public_path.is_file():
        _write_public_key(private_path, public_path)
    return private_path, public_path


def _refuse_a_link_to_nowhere(path: Path, what: str) -> None:
    """Refuse a key path that is a symbolic link to a file not there (a drive not mounted, a key
    moved): the private key was then said to be unreadable, and a public key's link was replaced
    by a new key file, as if no key had been placed there."""
    if os.path.lexists(path) and not path.exists():
        target = path.parent / os.readlink(path)
        raise ConfigError(
            f"the {what} key {path} is a symbolic link to {target}, which does not exist; "
            f"restore {target}, remove the link, or name another key folder "
            "(python scripts/signing_keys.py <folder>, or STOCKCAST_KEYS_DIR)."
        )


def loose_private_key(private_path: Path) -> str | None:
    """A warning where others than its owner may read the private key (an existing key is kept
    as it is, with whatever mode it was copied or unpacked with), else None. Windows keeps no
    such mode bits."""
    if os.name != "posix":
        return None
    mode = stat.S_IMODE(private_path.stat().st_mode)
    if not mode & OTHERS_MODE:
        return None
    return (
        f"the private key {private_path} can be read by others than its owner (mode "
        f"{mode:04o}), and whoever reads it can sign models this project loads; run chmod "
        f"{PRIVATE_KEY_MODE:o} {private_path}."
    )


def _place_private_key(private_path: Path, private_pem: bytes) -> None:
    """Put `private_pem` at `private_path` unless another process's key got there first.

    A hard link of a whole staged file makes the key appear whole. A folder without hard links
    (some network and FUSE mounts, FAT, some Windows setups) refuses the link with an error that
    depends on the system; there the key is created in place, exclusively, so a racing process
    still never overwrites it, and readers wait for it to be whole (`_whole_private_key`)."""
    staged = _staged(private_path, private_pem)  # mode 0600
    try:
        os.link(staged, private_path)
    except FileExistsError:  # another process's key got there first
        pass
    except OSError:  # no hard links here
        _create_exclusively(private_path, private_pem)
    finally:
        staged.unlink()


def _create_exclusively(path: Path, content: bytes) -> None:
    """`content` in a new file `path` (mode 0600); nothing if `path` already exists."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        handle = os.open(path, flags, PRIVATE_KEY_MODE)
    except FileExistsError:
        return
    except OSError as err:
        raise _unwritable(path, err) from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
    except OSError as err:
        path.unlink(missing_ok=True)  # never leave half a key for the next run to trust
        raise _unwritable(path, err) from None


def _unwritable(path: Path, err: OSError) -> ConfigError:
    what = "private" if path.name == PRIVATE_KEY_FILE else "public"
    return ConfigError(
        f"cannot write the {what} key {path} ({err.strerror}); name a folder this user can "
        "write (python scripts/signing_keys.py <folder>, or STOCKCAST_KEYS_DIR)."
    )


def unsigning_public_key(pem: bytes) -> str | None:
    """'an RSA key', 'an EC key on secp256k1': what a PEM public key is where model signing
    cannot verify with it (the library said "'RSAPublicKey' object has no attribute 'curve'");
    None for a key it takes, or for text that is no public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(pem)
    except Exception:  # not PEM, or PEM of no public key: the caller's sentence says so
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return None if key.curve.name in SIGNING_CURVES else f"an EC key on {key.curve.name}"
    return f"{key_kind(key)} key"


def signing_key(pem: bytes, source: str) -> Any:
    """`pem` as a private key the model-signing library signs with, else one sentence naming
    `source` (a file or a setting) and what is wrong: the library itself refuses a password, an
    RSA key or another curve only when it signs, after a pipeline's training, in its own words."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:  # the key is encrypted: no password is ever given
        raise ConfigError(
            f"{source} is protected by a password, which signing cannot give; give {WANTED_KEY} "
            "(openssl pkey -in <key> -out <new key> writes one without it)."
        ) from None
    except Exception as err:  # not PEM, or PEM of no private key: cryptography's ValueError
        raise ConfigError(
            f"{source} is not a private key in PEM ({first_line(err, '. ')}); give {WANTED_KEY}."
        ) from None
    curve = getattr(getattr(key, "curve", None), "name", None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or curve not in SIGNING_CURVES:
        kind = f"an EC key on {curve}" if curve else f"{key_kind(key)} key"
        raise ConfigError(
            f"{source} is {kind}, which model signing does not take; give {WANTED_KEY} "
            "(python scripts/signing_keys.py writes a P-256 pair)."
        )
    return key


def key_kind(key: Any) -> str:
    """'an RSA', 'an Ed25519', 'a DSA': the kind of a private or public key, for a sentence."""
    name = type(key).__name__.replace("PrivateKey", "").replace("PublicKey", "") or "unknown"
    # Said letter by letter (an RSA, an Ed25519) or as a word: only the first letter decides.
    return f"{'an' if name[0] in 'AEFHILMNORSX' else 'a'} {name}"


def _whole_private_key(private_path: Path) -> bytes:
    """The private key's PEM once it is whole: a process that created it in place (no hard
    links) may still be writing it."""
    deadline = time.monotonic() + WHOLE_KEY_WAIT_S
    while True:
        try:
            pem = private_path.read_bytes()
        except OSError as err:
            raise ConfigError(
                f"cannot read the private key {private_path} ({err.strerror}), so no public key "
                "is made from it; run this as the user who owns it, or name another key folder "
                "(python scripts/signing_keys.py <folder>, or STOCKCAST_KEYS_DIR)."
            ) from None
        if PEM_END in pem and pem.rstrip().endswith(b"-----"):
            return pem
        if time.monotonic() >= deadline:
            raise ConfigError(
                f"the private key {private_path} is not a whole PEM key (cut short, or not a "
                "key), so no public key is made from it; delete it and run "
                "python scripts/signing_keys.py again."
            )
        time.sleep(WHOLE_KEY_POLL_S)


def _make_folder(folder: Path) -> None:
    """Refuse, in its own words, a file or a link to nowhere where the key folder or one above it
    should be: the system's "File exists" or "Not a directory" said neither which path nor what
    was wrong."""
    # The nearest of the folder and those above it that is there, a link to nowhere included.
    in_the_way = next((path for path in (folder, *folder.parents) if os.path.lexists(path)), None)
    if in_the_way is not None and not in_the_way.is_dir():
        what = f"the key folder {folder}" + (
            "" if in_the_way == folder else f" cannot be made: {in_the_way}"
        )
        if in_the_way.exists():
            raise ConfigError(
                f"{what} is a file, not a folder; name a folder (python scripts/signing_keys.py "
                "<folder>, or STOCKCAST_KEYS_DIR)."
            )
        target = in_the_way.parent / os.readlink(in_the_way)
        raise ConfigError(
            f"{what} is a symbolic link to {target}, which does not exist; create {target}, or "
            "name another key folder (python scripts/signing_keys.py <folder>, or "
            "STOCKCAST_KEYS_DIR)."
        )
    reason = folder_not_made(folder)
    if reason is not None:
        raise ConfigError(
            f"cannot create the key folder {folder} ({reason}); name a folder this user can "
            "write (python scripts/signing_keys.py <folder>, or STOCKCAST_KEYS_DIR)."
        )


def _write_public_key(private_path: Path, public_path: Path) -> None:
    """The private key's public half, written whole (a reader never sees half a key)."""
    from cryptography.hazmat.primitives import serialization

    key = signing_key(_whole_private_key(private_path), f"the private key {private_path}")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    staged = _staged(public_path, public_pem)
    staged.chmod(PUBLIC_KEY_MODE)
    os.replace(staged, public_path)


def _staged(target: Path, content: bytes) -> Path:
    """`content` in a new file beside `target` only its owner can read, to be moved into place;
    one sentence where the folder takes no new file (a key folder another user owns)."""
    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=".staged-")
    except OSError as err:
        raise _unwritable(target, err) from None
    with os.fdopen(handle, "wb") as file:
        file.write(content)
    return Path(name)
