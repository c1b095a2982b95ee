"""How the serving process listens and stops: its socket bound before it says it serves, and
an end by the stop signal it was sent (after removing its private copy of the model), as a
service manager expects of a clean stop."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import sys
from typing import Any, NoReturn

from stockcast.errors import ConfigError
from stockcast.registry.private_root import remove_private_copies

# What stops a server: a service manager's SIGTERM, a closed terminal's SIGHUP (not on Windows),
# Ctrl-C's SIGINT.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)
)


def invocations_url(host: str, port: int) -> str:
    """The URL windows are posted to, as a client writes it: an IPv6 address in brackets
    (`http://::1:5001/...` is no URL a client reads)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/invocations"


def end_by_signal(number: int) -> NoReturn:
    """Remove the private copies of the model and end by signal `number`, under its default
    handler: the exit handlers that would remove them do not run after such an end."""
    remove_private_copies()
    # What is written goes out first: neither ending below flushes it. A stream that cannot
    # take it (a closed pipe) must not keep the process from ending.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    signal.signal(number, signal.SIG_DFL)
    signal.raise_signal(number)
    # Only where the signal's default does not end the process: PID 1 of a container ignores
    # its own signals. Not by SystemExit, whose exit would wait for a forecast still running in
    # the app's threads, past serve.shutdown_timeout_s.
    os._exit(128 + number)


def run_until_stopped(server: Any, listening: socket.socket, stopped: list[int]) -> None:
    """Serve until Ctrl-C or a stop signal. After a stop signal the server shuts down, removes
    its private copy of the model, and ends by that signal, as a service manager expects of a
    clean stop (systemd counts exit status 143 as a failure, death by SIGTERM as a stop).
    uvicorn raises the SIGTERM it caught again itself, but under the default handler, which
    ends the process before its exit handlers run: the copy was left in the temporary folder on
    every `kill`, `docker stop` or `systemctl stop`, and a SIGHUP killed it outright.
    `stopped`: the stop signals noted before (a stop that came while it started: it does not
    serve), which it goes on noting."""

    def stop(number: int, frame: object) -> None:
        stopped.append(number)
        server.should_exit = True

    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, stop)
    if not stopped:
        server.run(sockets=[listening])
    if stopped:
        end_by_signal(stopped[0])


def listen_host(host: str) -> str:
    """`serve.host` as a socket binds it: an IPv6 address written as in a URL (`[::1]`, how
    clients and the announced URL write it) without its brackets, which no resolver reads."""
    inner = host[1:-1]
    return inner if host.startswith("[") and host.endswith("]") and ":" in inner else host


def bound_socket(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port`, as uvicorn binds one (IPv6 where the host is an
    IPv6 address, else IPv4: `localhost` is 127.0.0.1), or one sentence naming serve.host or
    serve.port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except socket.gaierror as err:
        listening.close()
        raise ConfigError(
            f"serve.host {host!r} is not an address this machine can listen on ({err.strerror}); "
            "give a host name or IP address such as 127.0.0.1 or 0.0.0.0."
        ) from None
    except OSError as err:
        listening.close()
        if err.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            raise ConfigError(
                f"serve.host {host!r} is not an address of this machine ({err.strerror.lower()}); "
                "give one of its addresses, such as 127.0.0.1 or 0.0.0.0."
            ) from None
        raise ConfigError(
            f"serve.port {port} on {host} cannot be listened on ({err.strerror.lower()}); pick "
            "another serve.port, or stop what is serving there."
        ) from None
    listening.listen(socket.SOMAXCONN)
    listening.set_inheritable(True)
    return listening
