"""Typed, checked settings: the machinery behind ``geomlib.presets``.

A notebook's settings are a frozen dataclass whose fields carry their own
allowed values where they are declared::

    @dataclass(frozen=True)
    class ToyDDPMConfig(Settings):
        train_steps: Annotated[int, at_least(1)]  # optimizer steps
        map_kind: Literal["eps", "x0", "reverse_mean"]  # which map is analysed

``Settings.check`` tests every field against its type and rules and names the
first field that fails; a subclass adds ``cross_checks`` only for rules that
relate two fields. ``PRESET`` marks a notebook parameter left at the preset's
value (``None`` is a value of its own for optional settings).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

__all__ = [
    "ends_at_train_steps",
    "Timestep",
    "Weights",
    "Steps",
    "Sizes",
    "Seed",
    "Scales",
    "Positive",
    "Count",
    "PRESET",
    "PRESET_NAMES",
    "Annotated",
    "Rule",
    "Settings",
    "above",
    "at_least",
    "at_most",
    "between",
    "each",
    "even",
    "increasing",
    "inside",
    "length",
    "lengths_between",
    "multiple_of",
    "nonempty",
    "one_of",
    "require",
]


class _PresetValue:
    """The value of a notebook parameter that takes the preset's setting."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "PRESET"

    def __reduce__(self):
        return (_PresetValue, ())


PRESET = _PresetValue()


@dataclass(frozen=True)
class Rule:
    """A test on one value, and the words for what it allows (``"an integer >= 1"``)."""

    test: Callable[[Any], bool]
    allowed: str

    def __call__(self, value) -> bool:
        try:
            return bool(self.test(value))
        except TypeError:
            return False


def at_least(low) -> Rule:
    return Rule(lambda v: v >= low, f">= {low}")


def above(low) -> Rule:
    return Rule(lambda v: v > low, f"> {low}")


def at_most(high) -> Rule:
    return Rule(lambda v: v <= high, f"<= {high}")


def between(low, high) -> Rule:
    """``low <= value <= high``."""
    return Rule(lambda v: low <= v <= high, f"in [{low}, {high}]")


def inside(low, high) -> Rule:
    """``low < value < high``."""
    return Rule(lambda v: low < v < high, f"in ({low}, {high})")


def one_of(*values) -> Rule:
    return Rule(lambda v: v in values, "one of " + ", ".join(repr(v) for v in values))


def multiple_of(factor: int) -> Rule:
    return Rule(lambda v: v % factor == 0, f"a multiple of {factor}")


even = Rule(lambda v: v % 2 == 0, "even")
nonempty = Rule(lambda v: len(v) > 0, "a non-empty list")
increasing = Rule(lambda v: list(v) == sorted(set(v)), "a strictly increasing list")


def length(n: int) -> Rule:
    return Rule(lambda v: len(v) == n, f"a list of exactly {n}")


def lengths_between(low: int, high: int) -> Rule:
    return Rule(lambda v: low <= len(v) <= high, f"a list of {low} to {high} entries")


def each(rule: Rule) -> Rule:
    """Every entry of a list passes ``rule``."""
    return Rule(lambda v: all(rule(x) for x in v), f"a list with every entry {rule.allowed}")


def require(ok: bool, name: str, allowed: str, value) -> None:
    """Raise ``ValueError("<name> must be <allowed>; got <value>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} must be {allowed}; got {value!r}")


def _base_type(annotation):
    if typing.get_origin(annotation) is Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _rules(annotation, value) -> tuple[Rule, ...]:
    """The rules ``value`` must meet: those of its annotation, or, for an optional or union type
    (``Annotated[int, at_least(1)] | None``), those of the member the value matches."""
    if typing.get_origin(annotation) is Annotated:
        return tuple(r for r in typing.get_args(annotation)[1:] if isinstance(r, Rule))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None) and matches(value, arg):
                return _rules(arg, value)
    return ()


def matches(value, annotation) -> bool:
    """Whether ``value`` fits a type; ints are accepted for floats, lists for tuples."""
    annotation = _base_type(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arg) for arg in args)
    if origin is tuple:
        return isinstance(value, (tuple, list)) and all(matches(v, args[0]) for v in value)
    if annotation is type(None):
        return value is None
    if annotation is float:  # finite: no setting means anything at NaN or infinity
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def describe(annotation) -> str:
    """Words for a type: ``"int"``, ``"a list of float"``, ``"one of 'eps', 'x0'"``."""
    annotation = _base_type(annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin is tuple:
        return f"a list of {describe(typing.get_args(annotation)[0])}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    if annotation is float:
        return "a finite float"
    return getattr(annotation, "__name__", str(annotation))


def _coerce(value, annotation):
    """Lists to tuples and ints to floats where the type says so (after ``matches``)."""
    base = _base_type(annotation)
    if value is None:
        return value
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        for arg in typing.get_args(base):
            if arg is not type(None) and matches(value, arg):
                return _coerce(value, arg)
        return value
    if typing.get_origin(base) is tuple:
        inner = typing.get_args(base)[0]
        return tuple(_coerce(v, inner) for v in value)
    if base is float:
        return float(value)
    return value


PRESET_NAMES = ("smoke", "default", "paper")


class Settings:
    """Mixin for frozen dataclasses of settings: typed, each field checked by its own rules."""

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        return typing.get_type_hints(cls, include_extras=True)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def build(cls, values: dict):
        """An instance from ``values`` (every field), typed, coerced and checked."""
        hints = cls.field_types()
        unknown = sorted(set(values) - set(hints))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown} for {cls.__name__}; allowed: {sorted(hints)}")
        missing = sorted(set(hints) - set(values))
        if missing:
            raise ValueError(f"{cls.__name__} lacks setting(s) {missing}")
        typed = {}
        for name, annotation in hints.items():
            value = values[name]
            if not matches(value, annotation):
                raise TypeError(f"{name} must be {describe(annotation)}; got {value!r}")
            typed[name] = _coerce(value, annotation)
            if typed[name] is None:
                continue
            for rule in _rules(annotation, typed[name]):
                require(rule(typed[name]), name, rule.allowed, value)
        settings = cls(**typed)
        settings.cross_checks()
        return settings

    @classmethod
    def preset_values(cls, preset: str) -> dict:
        """Every field's value under ``preset``.

        Each class of the hierarchy gives the values of the fields it declares
        in its own ``PRESETS`` (``default`` in full; ``smoke`` and ``paper`` as
        changes to it): a notebook's config inherits its model's settings, so a
        model setting and its values are declared once, in the model's file.
        """
        if preset not in PRESET_NAMES:
            raise ValueError(f"preset must be one of {PRESET_NAMES}; got {preset!r}")
        values = {}
        for klass in reversed(cls.__mro__):
            table = klass.__dict__.get("PRESETS")
            if table:
                values.update(table["default"])
                values.update(table.get(preset, {}))
        return values

    @classmethod
    def preset(cls, name: str, **overrides):
        """The settings of preset ``name`` with ``overrides`` applied, typed and checked."""
        unknown = sorted(set(overrides) - set(cls.names()))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for {cls.__name__}; allowed: {sorted(cls.names())}"
            )
        return cls.build({**cls.preset_values(name), **overrides})

    def cross_checks(self) -> None:
        """Rules that relate two or more fields; each field's own rules are checked by ``build``."""


# Shorthands for the rules most settings share.
Seed = Annotated[int, at_least(0)]
Count = Annotated[int, at_least(1)]
Positive = Annotated[float, above(0)]
Timestep = Annotated[int, between(0, 999)]
Steps = Annotated[tuple[int, ...], nonempty, increasing, each(at_least(1))]
Scales = Annotated[tuple[float, ...], nonempty, each(above(0))]
Sizes = Annotated[tuple[int, ...], nonempty, increasing, each(at_least(10))]
# where a trained model comes from: "shipped" loads the weights `make models` made (data/models/, checked
# against their hashes); "train" trains the model here, cached in data/cache/ (seconds at `smoke`)
Weights = Literal["shipped", "train"]


def ends_at_train_steps(checkpoints: tuple[int, ...], train_steps: int) -> None:
    require(
        checkpoints[-1] == train_steps,
        "checkpoints",
        f"steps ending at train_steps={train_steps}",
        checkpoints,
    )
