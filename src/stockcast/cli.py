"""Shared behaviour of the command-line entry points."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from stockcast.errors import StockcastError

T = TypeVar("T")
log = logging.getLogger(__name__)


def user_errors_exit(func: Callable[..., T]) -> Callable[..., T]:
    """Turn a StockcastError into one line on stderr and exit status 2 instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except StockcastError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper
