"""A request's parameters, as JSON: their schema, and values read from a client.

A kind of work that clients may ask for over HTTP describes its request with
``param`` parameters (a ``param.Parameterized`` class): their declarations are the one
schema. :func:`json_schema` writes it as JSON Schema (what ``GET /api/kinds`` shows);
:func:`from_json` reads a client's JSON values against it, refusing anything of the
wrong type with a message naming the parameter, before the class's own validation
(bounds, constraints across parameters) has its say.
"""

from __future__ import annotations

import json
import math
from typing import Any

import param


class OverBudget(ValueError):
    """A request valid in each of its values, but too costly as a whole (HTTP 413)."""


def _shown(value) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _number(value, name: str):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {_shown(value)}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}.")
    return value


def _parameterized(declared) -> type | None:
    kind = getattr(declared, "class_", None)
    return kind if isinstance(kind, type) and issubclass(kind, param.Parameterized) else None


def _value(declared, name: str, value, nullable: bool = False):
    """``value`` for ``declared`` (a parameter) from JSON, or ``ValueError``."""
    if value is None and nullable:
        return None  # a number the class resolves itself (say, from others)
    nested = _parameterized(declared) if isinstance(declared, param.ClassSelector) else None
    if nested is not None:
        return from_json(nested, value, f"{name}'s")
    if isinstance(declared, param.Boolean):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, not {_shown(value)}.")
        return value
    if isinstance(declared, param.Number):
        value = _number(value, name)
        if isinstance(declared, param.Integer):
            if not (isinstance(value, int) or float(value).is_integer()):
                raise ValueError(f"{name} must be an integer, not {value}.")
            return int(value)
        return value
    if isinstance(declared, param.Range):
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError(f"{name} must be a pair [lo, hi], not {_shown(value)}.")
        return tuple(_number(v, name) for v in value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {_shown(value)}.")
    return value


def from_json(cls: type[param.Parameterized], values: Any, what: str = "its"):
    """An instance of ``cls`` from a client's JSON ``values`` (a subset of its parameters).

    Parameters
    ----------
    cls : param.Parameterized subclass
        What the values describe; its parameters are the schema.
    values : object
        What the client sent (JSON: a dict, lists for tuples).
    what : str
        Whose parameters, in messages (``"the config's"``).

    Raises
    ------
    ValueError
        Naming the first parameter that is unknown or of the wrong type, or the class's
        own message for a value out of bounds.
    OverBudget
        (A ValueError.) From the class's validation: each value fine, too costly together.
    """
    if not isinstance(values, dict):
        raise ValueError(f"params must be an object of {what} parameters.")
    # Old names a class still reads (declared as parameters, for their type alone).
    aliases = getattr(cls, "json_aliases", {})
    declared = {**aliases, **{name: cls.param[name] for name in cls.param}}
    unknown = sorted(set(values) - set(declared) | ({"name"} & set(values)), key=str)
    if unknown:
        raise ValueError(f"Unknown parameter(s): {', '.join(map(str, unknown))}.")
    nullable = getattr(cls, "json_nullable", ())
    read = {
        name: _value(declared[name], name, value, name in nullable)
        for name, value in values.items()
    }
    try:
        return cls(**read)
    except OverBudget:
        raise
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None


def json_schema(cls: type[param.Parameterized]) -> dict:
    """The JSON Schema of ``cls``'s parameters (all but ``name``): types, bounds, choices,
    defaults and each parameter's doc."""
    properties = {}
    for name, declared in cls.param.objects("existing").items():
        if name == "name":
            continue
        properties[name] = _property(declared, name in getattr(cls, "json_nullable", ()))
    for name, declared in getattr(cls, "json_aliases", {}).items():
        properties[name] = _property(declared)
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _property(declared, nullable: bool = False) -> dict:
    spec: dict = {"description": declared.doc or ""}
    nested = _parameterized(declared) if isinstance(declared, param.ClassSelector) else None
    if nested is not None:
        return {**spec, **json_schema(nested)}
    if isinstance(declared, param.Boolean):
        spec["type"] = "boolean"
    elif isinstance(declared, param.Number):
        spec["type"] = "integer" if isinstance(declared, param.Integer) else "number"
        lo, hi = declared.bounds or (None, None)
        if lo is not None:
            spec["minimum"] = lo
        if hi is not None:
            spec["maximum"] = hi
    elif isinstance(declared, param.Range):
        lo, hi = declared.bounds or (None, None)
        item = {"type": "number"}
        if lo is not None:
            item["minimum"] = lo
        if hi is not None:
            item["maximum"] = hi
        spec.update(type="array", items=item, minItems=2, maxItems=2)
    elif isinstance(declared, param.Selector):
        spec["enum"] = list(declared.objects)
    else:
        spec["type"] = "string"
    if nullable:
        spec["type"] = [spec["type"], "null"]
    default = declared.default
    if isinstance(default, tuple):
        default = list(default)
    if default is None or isinstance(default, bool | int | float | str | list):
        spec["default"] = default
    return spec
