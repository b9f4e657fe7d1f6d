"""Config fields that check themselves: validity rules, validation, and overrides from strings.

A config field is declared with :func:`checked` and a :class:`Check`; :func:`validate` runs every
field's check, then the config's own ``check_relations()``; :func:`apply_overrides` changes
fields by name, parsing strings (``--set key=value``, papermill parameters) against the field's
type. :mod:`rlkit.config` builds its configs from these pieces.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlkit.errors import UserError

__all__ = [
    "BOOL",
    "DICT",
    "NON_EMPTY_STR",
    "Check",
    "ConfigError",
    "apply_overrides",
    "checked",
    "int_at_least",
    "number_above",
    "number_at_least",
    "number_in",
    "one_of",
    "optional",
    "validate",
]


class ConfigError(UserError, ValueError):
    """A config field is unknown or out of range."""


# -- per-field checks: each returns True when the value is valid; "valid" says what is -------------
@dataclass(frozen=True)
class Check:
    """A field's validity rule: ``ok(value)`` and the words that describe a valid value."""

    ok: Callable[[Any], bool]
    valid: str


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def int_at_least(lo: int) -> Check:
    return Check(lambda v: _is_int(v) and v >= lo, f"an integer ≥ {lo}")


def number_above(lo: float) -> Check:
    return Check(lambda v: _is_num(v) and v > lo, f"a number > {lo:g}")


def number_at_least(lo: float) -> Check:
    return Check(lambda v: _is_num(v) and v >= lo, f"a number ≥ {lo:g}")


def number_in(lo: float, hi: float, *, open_low: bool = False) -> Check:
    low = "(" if open_low else "["
    return Check(
        lambda v: _is_num(v) and (lo < v if open_low else lo <= v) and v <= hi,
        f"a number in {low}{lo:g}, {hi:g}]",
    )


def one_of(choices: Sequence[str]) -> Check:
    return Check(lambda v: v in choices, ", ".join(choices))


def optional(check: Check) -> Check:
    return Check(lambda v: v is None or check.ok(v), f"{check.valid} or None")


BOOL = Check(lambda v: isinstance(v, bool), "True or False")
NON_EMPTY_STR = Check(lambda v: isinstance(v, str) and bool(v), "a non-empty id")
DICT = Check(lambda v: isinstance(v, dict), "a dict")


def checked(default: Any = dataclasses.MISSING, check: Check | None = None, **kw: Any) -> Any:
    """A dataclass field whose value :func:`validate` checks with ``check``."""
    return field(default=default, metadata={"check": check}, **kw)


def validate(config: Any) -> None:
    """Check every field of a config against its :class:`Check`, then the config's relations.

    :raises ConfigError: naming the first bad field, its value and what is valid.
    """
    for f in dataclasses.fields(config):
        check = f.metadata.get("check")
        value = getattr(config, f.name)
        if check is not None and not check.ok(value):
            raise ConfigError(
                f"config field {f.name!r} = {value!r} is out of range; valid: {check.valid}"
            )
    config.check_relations()


def apply_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    """Return ``config`` with ``overrides`` applied; unknown names are an error listing valid ones.

    Values may be given as strings (from ``--set key=value``): they are parsed against the type
    of the field's current value.
    """
    names = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(
            f"unknown config field(s) {', '.join(unknown)} for {type(config).__name__}; "
            f"valid: {', '.join(sorted(names))}"
        )
    types = {f.name: str(f.type) for f in dataclasses.fields(config)}
    parsed = {k: _coerce(k, v, types[k]) for k, v in overrides.items()}
    if hasattr(config, "env_kwargs"):  # never share the preset's dict with a copy
        parsed.setdefault("env_kwargs", dict(config.env_kwargs))
    return dataclasses.replace(config, **parsed)


def _coerce(name: str, value: Any, annotation: str) -> Any:
    """Parse ``value`` for a field annotated ``annotation`` (e.g. ``"int | None"``)."""
    kinds = {part.strip().split("[")[0] for part in annotation.split("|")}
    if not isinstance(value, str) or "str" in kinds:
        # Papermill gives ints where a float is expected (lr=1): accept them as floats.
        if "float" in kinds and _is_int(value):
            return float(value)
        return value
    text = value.strip()
    if text.lower() in ("none", "null") and "None" in kinds:
        return None
    if "bool" in kinds:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"config field {name!r} = {value!r} is not a boolean; valid: true, false")
    if "dict" in kinds:
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(
                f"config field {name!r} = {value!r} is not JSON; valid: a JSON object"
            ) from None
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"config field {name!r} = {value!r} is not a number") from None
    if "int" in kinds:
        if not number.is_integer():
            raise ConfigError(f"config field {name!r} = {value!r} is not a whole number")
        return int(number)  # accepts 1e5 for 100000
    return number
