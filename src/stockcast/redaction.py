"""Secrets a resolved config can hold, kept out of what a run writes, logs and prints.

A signing key given as PEM text (`STOCKCAST_SIGNING_PRIVATE_KEY` on Azure ML) and a tracking URI
with a password in it (`postgresql://user:password@host/mlflow`) resolve into the config like any
setting; the config is then written beside the model (and registered with it), logged as MLflow
params, saved in every checkpoint and quoted in messages. Whoever can read any of those could
sign a forged model or open the store. Each is written redacted instead: the key's text as
`PRIVATE_KEY_SHOWN`, a URI's password (and any query value named like one) as `MASK`. A key
given as a file path, and every other value, is written as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
PRIVATE_KEY_SHOWN = "(a PEM private key's text, not written)"
# The start of any PEM private key block: PKCS#8, EC, RSA or encrypted.
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# A URI inside other text: a scheme, then up to a space or an unescaped quote.
_URI = re.compile(r"""[A-Za-z][A-Za-z0-9+.-]*://(?:\\.|[^\s'"\\])+""")
# A URI's user part with a password: everything from the user's colon to the URI's last `@`
# (a password a database driver accepts may hold `#`, `/`, `?` or `@` unescaped). A path right
# after `://` (`sqlite:////tmp/a:b@c`) has no user part.
_USER_PASSWORD = re.compile(r"^(?P<start>[^:]+://[^:/?#@]*:)(?P<password>.+)(?=@[^@]*$)")
# Query parameters that carry a credential (a driver's password, a SAS signature, an API key).
_SECRET_QUERY = re.compile(
    r"(?i)(.*[_-])?(pass(word|wd)?|pwd|secret|token|sig(nature)?|(api|access|account)?key)"
)
# URIs of local files, which hold no credentials: a folder's name is never masked.
LOCAL_FILE_SCHEMES = ("sqlite:", "file:")
_QUERY_PAIR = re.compile(r"(?P<start>(?:^|[?&;])(?P<name>[^=&;?]+)=)(?P<value>[^&;]*)")


def redacted(value: Any) -> Any:
    """A plain config tree (dicts, lists, scalars) with every secret in it redacted."""
    if isinstance(value, Mapping):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    if isinstance(value, str):
        return redacted_text(value)
    return value


def redacted_text(text: str) -> str:
    """A setting's value, or any text holding URIs (quoted or not, as in an override): a
    private key's text as `PRIVATE_KEY_SHOWN`, each URI with its credentials masked, anything
    else unchanged."""
    if _PRIVATE_KEY.search(text):
        return PRIVATE_KEY_SHOWN
    return _URI.sub(lambda found: redacted_uri(found[0]), text)


def redacted_override(override: str) -> str:
    """A command-line override `key=value` with its value's secrets redacted (`redacted_text`):
    as a rerun command, a sweep's summary or a study's record shows it."""
    key, sign, value = override.partition("=")
    return f"{key}{sign}{redacted_text(value)}" if sign else override


def redacted_uri(uri: str) -> str:
    """`uri` with the password of its user part and the values of credential-named query
    parameters shown as `MASK`, every other character as it was (a value that is no URI comes
    back unchanged)."""
    if "://" not in uri or uri.lower().startswith(LOCAL_FILE_SCHEMES):
        return uri
    shown = _USER_PASSWORD.sub(lambda found: found["start"] + MASK, uri)
    base, mark, query = shown.partition("?")
    if not mark:
        return shown
    return base + mark + _QUERY_PAIR.sub(_masked_pair, query)


def _masked_pair(found: re.Match[str]) -> str:
    secret = _SECRET_QUERY.fullmatch(found["name"]) and found["value"]
    return found["start"] + (MASK if secret else found["value"])


def has_hidden_credentials(uri: str) -> bool:
    """Whether `redacted_uri` masks anything in `uri`."""
    return redacted_uri(uri) != uri
