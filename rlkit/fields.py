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

from rlkit.errors import UserError, shown

__all__ = [
    "BOOL",
    "DICT",
    "MAX_INT",
    "NON_EMPTY_STR",
    "Check",
    "ConfigError",
    "apply_overrides",
    "checked",
    "int_at_least",
    "int_in",
    "number_above",
    "number_at_least",
    "number_in",
    "one_of",
    "optional",
    "validate",
]


class ConfigError(UserError, ValueError):
    """A config field is unknown or out of range."""


MAX_INT = 2**63 - 1
"""The largest value of an integer field: counts, sizes and seeds end up in numpy's and torch's
int64s (array shapes, ``torch.manual_seed``), which fail beyond it, deep inside and late."""


# -- per-field checks: each returns True when the value is valid; "valid" says what is -------------
@dataclass(frozen=True)
class Check:
    """A field's validity rule: ``ok(value)`` and the words that describe a valid value."""

    ok: Callable[[Any], bool]
    valid: str


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    if not isinstance(v, int | float) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond any float
        return False


def int_at_least(lo: int) -> Check:
    return Check(
        lambda v: _is_int(v) and lo <= v <= MAX_INT, f"an integer ≥ {lo} (at most 2**63 - 1)"
    )


def int_in(lo: int, hi: int) -> Check:
    return Check(lambda v: _is_int(v) and lo <= v <= hi, f"an integer in [{lo}, {hi}]")


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
    # A str first: `array in choices` would raise numpy's ambiguous-truth error instead.
    return Check(lambda v: isinstance(v, str) and v in choices, ", ".join(choices))


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
                f"config field {f.name!r} = {shown(value)} is out of range; valid: {check.valid}"
            )
    config.check_relations()


def apply_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    """Return ``config`` with ``overrides`` applied; unknown names are an error listing valid ones.

    Values may be given as strings (from ``--set key=value``): they are parsed against the type
    of the field's current value.
    """
    fields = {f.name: f for f in dataclasses.fields(config)}
    # Named by their repr: a name from --set may hold anything, a newline or a space included.
    unknown = sorted(shown(k) for k in overrides if k not in fields)
    if unknown:
        raise ConfigError(
            f"unknown config field(s) {', '.join(unknown)} for {type(config).__name__}; "
            f"valid: {', '.join(sorted(fields))}"
        )
    parsed = {k: _coerce(fields[k], v) for k, v in overrides.items()}
    if hasattr(config, "env_kwargs"):  # never share the preset's dict with a copy
        parsed.setdefault("env_kwargs", dict(config.env_kwargs))
    return dataclasses.replace(config, **parsed)


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    """Parse ``value`` for the field ``f``, by its annotation (e.g. ``"int | None"``)."""
    kinds = {part.strip().split("[")[0] for part in str(f.type).split("|")}
    if not isinstance(value, str) or "str" in kinds:
        # Papermill gives ints where a float is expected (lr=1): accept them as floats.
        if "float" in kinds and _is_int(value):
            try:
                return float(value)
            except OverflowError:  # beyond any float: left to the check, which names it
                return value
        return value
    text = value.strip()
    bad = f"config field {f.name!r} = {shown(value)}"
    check = f.metadata.get("check")
    valid = f"; valid: {check.valid}" if check is not None else ""
    if text.lower() in ("none", "null") and "None" in kinds:
        return None
    if "bool" in kinds:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"{bad} is not a boolean; valid: true, false")
    if "dict" in kinds:
        import json

        try:
            return json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; NaN; [[[[…
            raise ConfigError(f"{bad} is not JSON; valid: a JSON object") from None
    if "int" in kinds:
        try:
            return int(text)  # exactly: through a float, 2**63 + 1 would lose its last digits
        except ValueError:  # 1e5, 1.0, or more digits than int() reads: read as a float
            pass
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"{bad} is not a number{valid}") from None
    if math.isnan(number):
        raise ConfigError(f"{bad} is not a number{valid}")
    if "int" in kinds:
        if math.isinf(number):
            raise ConfigError(f"{bad} is out of range{valid}")
        if not number.is_integer():
            raise ConfigError(f"{bad} is not a whole number{valid}")
        return int(number)  # accepts 1e5 for 100000
    return number  # ±inf: the field's check says it is out of range


def _no_constant(name: str) -> Any:
    """``json.loads`` reads NaN and Infinity, which JSON does not have; refuse them."""
    raise ValueError(f"{name} is not JSON")
