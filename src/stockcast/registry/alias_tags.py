"""Aliases on a store that keeps none: where the registry's server has no endpoint to set a
model alias, the version holding one carries the tag `ALIAS_TAG_PREFIX<alias>` = "true", moved
by `ModelRegistry.promote` and read back by `ModelRegistry.versions` as that alias."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stockcast.registry.versions import ALIAS_TAG_PREFIX

# What a server without model aliases answers a request to set one (HTTP 404 or 501, or a
# feature turned off); any other failure is a failure.
ALIASES_NOT_KEPT = frozenset({"ENDPOINT_NOT_FOUND", "NOT_IMPLEMENTED", "FEATURE_DISABLED"})
TRUE = "true"


def alias_tag(alias: str) -> str:
    return ALIAS_TAG_PREFIX + alias


def aliases_by_version(found: Iterable[Any], held: Mapping[str, Any]) -> dict[int, list[str]]:
    """Each version's aliases: the store's own (`held`: alias -> version), then those `found`
    (the versions as the store lists them) carry as tags, unless the store keeps an alias of
    that name for real (a real alias, set since, wins)."""
    aliases: dict[int, list[str]] = {}
    for alias, version in held.items():
        aliases.setdefault(int(version), []).append(alias)
    for version in found:
        for key, value in (version.tags or {}).items():
            alias = key.removeprefix(ALIAS_TAG_PREFIX)
            if key.startswith(ALIAS_TAG_PREFIX) and value == TRUE and alias not in held:
                aliases.setdefault(int(version.version), []).append(alias)
    return aliases


def move_alias_tag(client: Any, model_name: str, alias: str, version: int) -> None:
    """Tag `version` as the alias's holder, then take the tag off every other version: a crash
    in between leaves two holders, of which readers take the newest."""
    tag = alias_tag(alias)
    client.set_model_version_tag(model_name, str(version), tag, TRUE)
    for other in client.search_model_versions(f"name='{model_name}'"):
        if int(other.version) != version and tag in (other.tags or {}):
            client.delete_model_version_tag(model_name, str(other.version), tag)


def drop_alias_tag(
    client: Any, model_name: str, alias: str, version: int, tags: Mapping[str, str]
) -> None:
    """Take the alias's tag off `version`, where it has one."""
    if alias_tag(alias) in tags:
        client.delete_model_version_tag(model_name, str(version), alias_tag(alias))
