"""Create the local model-signing key pair: `python scripts/signing_keys.py [folder]`.

The folder defaults to where the local config reads the pair (configs/registry/local.yaml):
STOCKCAST_KEYS_DIR, else keys/ under STOCKCAST_ROOT, else keys/ in the project. `make` runs it
before train, pipeline, replay and serve; the config uses the pair once it exists. An existing
key is kept: a public key alone (a machine that only verifies) is left as it is, and a private
key others can read is named in a warning.
"""

import os
import sys
from pathlib import Path

from stockcast.config.resolvers import project_root
from stockcast.errors import ConfigError
from stockcast.registry.keys import create_key_pair, loose_private_key

DEFAULT_FOLDER = "keys"


def default_folder() -> Path:
    """Where the local config reads the pair: a folder written relative to the current one
    would leave it where nothing reads it, and registrations unsigned."""
    named = os.environ.get("STOCKCAST_KEYS_DIR")
    if named:
        return Path(os.path.abspath(named))
    root = os.environ.get("STOCKCAST_ROOT") or project_root()
    return Path(os.path.abspath(root)) / DEFAULT_FOLDER


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print((__doc__ or "").strip())
        return 0
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(
            f"signing_keys.py takes one folder and no options, not {' '.join(argv)!r}; run "
            f"python scripts/signing_keys.py [folder] (default {default_folder()}).",
            file=sys.stderr,
        )
        return 2
    if argv and not argv[0].strip():  # Path("") is the current folder, where nothing reads keys
        print(
            "signing_keys.py was given an empty folder name; name a folder, or none for the "
            f"default ({default_folder()}).",
            file=sys.stderr,
        )
        return 2
    try:
        private, public = create_key_pair(Path(argv[0]) if argv else default_folder())
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if private is None:
        print(f"signing keys: {public} only (public): this machine verifies models, signs none")
    else:
        print(f"signing keys: {private} (private, keep it secret) and {public} (public)")
        loose = loose_private_key(private)
        if loose is not None:
            print(f"warning: {loose}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
