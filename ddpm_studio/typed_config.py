"""The one loader of every configuration dataclass (model, diffusion, sampling, data, training, run).

Policy, the same for every section of a `config.json`:

- **Unknown keys are an error** naming the file and the key ("config.json: training.learning_rate is an
  unknown TrainingConfig field"): a typo in a hand-edited file must not train something else silently, and a
  file written by a newer version is refused with its reason rather than half-read.
- **Missing keys take a default**: the class's `LEGACY_DEFAULTS` entry when it has one (what a file written
  before that field existed meant, e.g. a constant learning rate), else the dataclass default.
- **Wrong types are an error** naming the file and the key ("config.json: training.batch_size must be an
  integer, got 'a'"). JSON's int is accepted where a float is declared; a list where a tuple is declared.
- After the types, the class's own `validate()` checks ranges; its message is prefixed the same way.

Only the bottom layer: no torch, no Qt; engine, data and training configs all load through `load_config`.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar

from ddpm_studio.errors_text import short_repr, shorten

__all__ = ["ConfigError", "check_choice", "check_int", "check_number", "load_config"]

C = TypeVar("C")

_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


class ConfigError(ValueError):
    """A configuration that cannot be loaded; its str() is one line naming the file and the key."""


def _short(value: Any) -> str:
    """repr(value), shortened for a message (a 100 MB string is not printed whole)."""
    return short_repr(value)


def check_int(name: str, value: Any, low: int, high: int | None = None, *, optional: bool = False) -> None:
    """ValueError("name must be an integer >= low [and <= high], got v") unless `value` is such an integer (or
    None when `optional`): the one range check every config's validate() uses."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f">= {low}" + (f" and <= {high:,}" if high is not None else "")
        raise ValueError(f"{name} must be an integer {bound}, got {_short(value)}")


def check_number(name: str, value: Any, *, low: float, high: float = math.inf, open_low: bool = False) -> None:
    """ValueError unless `value` is a finite number >= low (> low when `open_low`) and <= high."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low) and value <= high
    if not ok:
        bound = f"> {low}" if open_low else f">= {low}"
        raise ValueError(f"{name} must be a finite number {bound}" + (f" and <= {high:g}" if high < math.inf else "")
                         + f", got {_short(value)}")


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {_short(value)}")


def _where(source: str | None, section: str | None, key: str | None = None) -> str:
    path = ".".join(p for p in (section, key) if p)
    return f"{source}: {path}" if source and path else (source or path)


def _coerce_scalar(kind: type, value: Any) -> tuple[bool, Any]:
    """(ok, value) for one of bool / int / float / str; bools are never numbers."""
    if kind is bool:
        return isinstance(value, bool), value
    if isinstance(value, bool):
        return False, value
    if kind is int:
        return isinstance(value, int), value
    if kind is float:
        return isinstance(value, (int, float)), float(value) if isinstance(value, (int, float)) else value
    return isinstance(value, kind), value


def _describe(kind: Any) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        words = [_describe(a) for a in args if a is not type(None)]
        return " or ".join(words) + (" or null" if type(None) in args else "")
    if origin is tuple:
        return f"a list of {_describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
    return _TYPE_WORDS.get(kind, getattr(kind, "__name__", str(kind)))


def _coerce(kind: Any, value: Any) -> tuple[bool, Any]:
    """(ok, value converted to `kind`) for the field types config dataclasses use."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return type(None) in args, None
        for arg in args:
            if arg is not type(None):
                ok, converted = _coerce(arg, value)
                if ok:
                    return True, converted
        return False, value
    if origin is tuple:  # tuple[X, ...]
        if not isinstance(value, (list, tuple)):
            return False, value
        items = [_coerce(args[0], v) for v in value]
        return all(ok for ok, _ in items), tuple(v for _, v in items)
    if kind in _TYPE_WORDS:
        return _coerce_scalar(kind, value)
    return True, value


def load_config(cls: type[C], data: Any, *, source: str | None = None, section: str | None = None) -> C:
    """Build and validate a `cls` (a config dataclass) from parsed JSON under the policy above.

    `source` (a file name) and `section` ("training") only make the error messages say where the fault is.
    """
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{_where(source, section) or cls.__name__} must be an object, got {_short(data)}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if f.init}
    unknown = sorted(set(data) - set(known))
    if unknown:
        others = f" (and {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
        raise ConfigError(f"{_where(source, section, shorten(unknown[0]))}{shorten(others)} is an unknown "
                          f"{cls.__name__} field")
    legacy: Mapping[str, Any] = getattr(cls, "LEGACY_DEFAULTS", {})
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        if name not in data:
            if name in legacy:
                kwargs[name] = legacy[name]
            elif f.default is MISSING and f.default_factory is MISSING:
                raise ConfigError(f"{_where(source, section, name)} is missing")
            continue
        if is_dataclass(hints[name]):  # a nested section, e.g. RunConfig.training
            inner = f"{section}.{name}" if section else name
            kwargs[name] = load_config(hints[name], data[name], source=source, section=inner)
            continue
        ok, value = _coerce(hints[name], data[name])
        if not ok:
            raise ConfigError(f"{_where(source, section, name)} must be {_describe(hints[name])}, "
                              f"got {_short(data[name])}")
        kwargs[name] = value
    config = cls(**kwargs)
    validate = getattr(config, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError:
            raise
        except ValueError as exc:
            where = _where(source, section)
            raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None
    return config
