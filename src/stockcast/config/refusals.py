"""One sentence for a value the schema refuses: the key as the config names it, the value, and
what it must be (the field's own description, else pydantic's words)."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from stockcast.config.data_schema import DATA_SOURCES
from stockcast.fields import config_fields, model_of


def _config_path(schema: type[BaseModel], loc: Iterable[Any]) -> tuple[list[Any], str | None]:
    """An error's location as the config names it, and the `description` of the field it points
    into (a list item uses its list's). Without the data source and the member of a union
    (`int`, `constrained-str`, `function-before[...]`) that pydantic adds after the key it tried
    them for, which no one typed; the description stops at the first part that is no field."""
    keys: list[Any] = []
    description = None
    model: Any = schema
    after_union, described = False, True
    for part in loc:
        if part in DATA_SOURCES:  # the member of the data union: its source
            model, after_union = DATA_SOURCES[part], False
            continue
        if after_union:
            after_union = described = False
            continue
        keys.append(part)
        if isinstance(part, int):
            continue
        fields = config_fields(model) if isinstance(model, type) else {}
        field = fields.get(part)
        if field is None:
            model, described = None, False
            continue
        if described:
            description = field.description
        after_union = len(_members(field.annotation)) > 1
        model = model_of(field.annotation)
    return keys, description


def _members(annotation: Any) -> list[Any]:
    """A union's members other than None; [] for any other annotation."""
    if get_origin(annotation) not in (Union, UnionType):
        return []
    return [member for member in get_args(annotation) if member is not type(None)]


def refusal_sentence(schema: type[BaseModel], error: Mapping[str, Any]) -> str:
    """`optim.lr is -1; it must be a number above 0.` from one pydantic error."""
    loc, description = _config_path(schema, error["loc"])
    # A list item judged by its list's description is named by the list; one judged by
    # pydantic's own words for the item, by its position, as an override names it
    # (model.candidates.0 is 3; it must be a valid dictionary).
    while description is not None and loc and isinstance(loc[-1], int):
        loc.pop()
    key = ".".join(str(part) for part in loc)
    kind = error["type"]
    if kind == "missing":
        return f"{key} is not set; give it in the config or as an override ({key}=...)."
    if kind == "union_tag_invalid":
        expected = error["ctx"]["expected_tags"]
        return f"{key}.source is {error['ctx']['tag']!r}; choose one of {expected}."
    if kind == "literal_error":
        return f"{key} is {error['input']!r}; choose one of {error['ctx']['expected']}."
    if kind == "value_error":
        return f"{key} {error['ctx']['error']}."
    requirement = description or error["msg"].removeprefix("Input should be ")
    value = error["input"]
    if kind == "string_type" and isinstance(value, bool | int | float):
        # Hydra and YAML read an unquoted 123 or true as a number or a boolean.
        typed = "a boolean" if isinstance(value, bool) else "a number"
        written = str(value).lower() if isinstance(value, bool) else _display(value)
        if loc and isinstance(loc[-1], int):  # an item of a list: quoted where it is listed
            how = f"write it as '{written}' in the list"
        else:
            how = (
                f"quote it ({key}=\"'{written}'\" on the command line, '{written}' in a YAML file)"
            )
        return f"{key} is {written}, read as {typed}; it must be {requirement}: {how}."
    if kind == "string_type" and _bracketed_address(value):
        # Hydra and YAML read `[::1]`, an IPv6 address as a URL writes it, as a list of one item.
        written = f"[{value[0]}]"
        return (
            f"{key} is {written}, read as a list; it must be {requirement}: write the address "
            f"without its brackets ({key}={value[0]}), or quote it ({key}=\"'{written}'\" on the "
            "command line)."
        )
    if kind in NUMBER_TYPES and _reads_as_number(error["input"]):
        # Text that reads as a number: a quoted one, or an environment variable's (always text).
        return (
            f"{key} is {_display(error['input'])}, text; it must be {requirement} (read an "
            f"environment variable as a number with {key}='${{oc.decode:${{oc.env:NAME}}}}')."
        )
    return f"{key} is {_display(error['input'])}; it must be {requirement}."


def _bracketed_address(value: Any) -> bool:
    """Whether `value` is a list of one IPv6 address: the address written in brackets."""
    if not (isinstance(value, list) and len(value) == 1 and isinstance(value[0], str)):
        return False
    try:
        return isinstance(ipaddress.ip_address(value[0]), ipaddress.IPv6Address)
    except ValueError:
        return False


# pydantic's error types for a value of another type where a strict number was expected.
NUMBER_TYPES = ("float_type", "int_type")


def _reads_as_number(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _display(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)
