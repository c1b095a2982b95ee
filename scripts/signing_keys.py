"""Create the local model-signing key pair: `python scripts/signing_keys.py [folder]` (keys/).

`make` runs it before train, pipeline, replay and serve; the default local config
(configs/registry/local.yaml) uses the pair once it exists. An existing pair is kept.
"""

import sys
from pathlib import Path

from stockcast.registry.keys import create_key_pair

DEFAULT_FOLDER = "keys"


def main(argv: list[str]) -> None:
    private, public = create_key_pair(Path(argv[0] if argv else DEFAULT_FOLDER))
    print(f"signing keys: {private} (private, keep it secret) and {public} (public)")


if __name__ == "__main__":
    main(sys.argv[1:])
