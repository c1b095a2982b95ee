"""Environment variables set for the length of a block, as libraries and configs read them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def environment_set(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in `os.environ` inside the block; each variable's earlier value, or its absence,
    put back after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
