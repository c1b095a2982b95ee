"""A fault-injection hook for the crash tests, and nothing else.

`STOCKCAST_CRASH_AT=<phase>` makes the process kill itself with SIGKILL when it reaches the
named phase (see `CRASH_PHASES`), exactly as a power cut or `kill -9` would: no cleanup, no
`finally`. Unset (always, outside the tests) it does nothing.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "STOCKCAST_CRASH_AT"
# Registration: a run holds the uploaded files / the version exists / the champion alias moved.
CRASH_PHASES = ("before_version", "after_version", "after_alias")


def crash_point(phase: str) -> None:
    if os.environ.get(CRASH_ENV) == phase:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
