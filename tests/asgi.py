"""A request to the scoring app as the ASGI server hands it over, for tests that call the app in
this process."""

from __future__ import annotations

from typing import Any


def http_scope(
    path: str = "/invocations", method: str = "POST", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The ASGI scope of one HTTP request from a local client (a JSON body unless `headers`
    say otherwise)."""
    given = headers if headers is not None else {"Content-Type": "application/json"}
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "http_version": "1.1",
        "server": ("127.0.0.1", 5001),
        "client": ("127.0.0.1", 1),
        "headers": [(key.lower().encode(), value.encode()) for key, value in given.items()],
    }
