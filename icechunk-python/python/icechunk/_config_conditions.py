"""Conditions of Icechunk 2.x's manifest configuration: which arrays a setting applies to.

``ManifestPreloadCondition`` (which manifests Icechunk loads when a session opens),
``ManifestSplitCondition`` and ``ManifestSplitDimCondition`` (how Icechunk splits an array's
manifest). Values only: they compare, hash, combine with ``&`` and ``|``, pickle and print
as the expression that builds them. How this engine treats the settings that hold them is in
``icechunk.config``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

__all__ = ["ManifestPreloadCondition", "ManifestSplitCondition", "ManifestSplitDimCondition"]


class _Condition:
    """A node of a condition tree: its class and its arguments are its value."""

    _family = ""
    _builder = ""
    _args: tuple[Any, ...] = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._args == other._args  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._args))

    def __repr__(self) -> str:
        args = ", ".join(_show(a) for a in self._args)
        return f"icechunk.config.{self._family}.{self._builder}({args})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (type(self), self._args)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def _conditions(family: type, conditions: Iterable[Any]) -> list[Any]:
    listed = list(conditions)
    for c in listed:
        if not isinstance(c, family):
            raise TypeError(f"expected {family.__name__} values, got {type(c).__name__}")
    return listed


def _regex(regex: str) -> str:
    import re

    if not isinstance(regex, str):
        raise TypeError(f"regex must be a str, got {type(regex).__name__}")
    try:
        re.compile(regex)
    except re.error as e:
        raise ValueError(f"bad regex {regex!r}: {e}") from None
    return regex


def _nest(family: Any, name: str, cls: type) -> None:
    """Makes ``cls`` the class ``family.<name>``, under that name (pickle finds it there)."""
    cls.__name__, cls.__qualname__ = name, f"{family.__name__}.{name}"
    setattr(family, name, cls)


def _add_tree_builders(family: Any) -> None:
    """Gives a condition family Icechunk's builders shared by preload and split conditions:
    ``and_conditions`` / ``or_conditions`` (also ``&`` / ``|``), ``path_matches`` and
    ``name_matches`` (a regular expression on the array's path or name), and the classes
    they make (``And``, ``Or``, ``PathMatches``, ``NameMatches``)."""

    class And(family):  # type: ignore[misc, valid-type]
        _builder = "and_conditions"

        def __init__(self, _0: Iterable[Any]) -> None:
            self._args = (_conditions(family, _0),)

    class Or(family):  # type: ignore[misc, valid-type]
        _builder = "or_conditions"

        def __init__(self, _0: Iterable[Any]) -> None:
            self._args = (_conditions(family, _0),)

    class PathMatches(family):  # type: ignore[misc, valid-type]
        _builder = "path_matches"

        def __init__(self, regex: str) -> None:
            self._args = (_regex(regex),)

        @property
        def regex(self) -> str:
            return str(self._args[0])

    class NameMatches(PathMatches):
        _builder = "name_matches"

    def and_conditions(conditions: Iterable[Any]) -> Any:
        return And(conditions)

    def or_conditions(conditions: Iterable[Any]) -> Any:
        return Or(conditions)

    def path_matches(regex: str) -> Any:
        return PathMatches(regex)

    def name_matches(regex: str) -> Any:
        return NameMatches(regex)

    for cls in (And, Or, PathMatches, NameMatches):
        _nest(family, cls.__name__, cls)
    for builder in (and_conditions, or_conditions, path_matches, name_matches):
        setattr(family, builder.__name__, staticmethod(builder))
    family.__and__ = lambda self, other: And([self, other])
    family.__or__ = lambda self, other: Or([self, other])


class _TreeCondition(_Condition):
    """What ``_add_tree_builders`` gives a family, for type checkers."""

    And: ClassVar[type]
    Or: ClassVar[type]
    PathMatches: ClassVar[type]
    NameMatches: ClassVar[type]

    if TYPE_CHECKING:

        @staticmethod
        def and_conditions(conditions: Iterable[Any]) -> Any: ...
        @staticmethod
        def or_conditions(conditions: Iterable[Any]) -> Any: ...
        @staticmethod
        def path_matches(regex: str) -> Any: ...
        @staticmethod
        def name_matches(regex: str) -> Any: ...
        def __and__(self, other: Any) -> Any: ...
        def __or__(self, other: Any) -> Any: ...


# ---- preload --------------------------------------------------------------------------------


class ManifestPreloadCondition(_TreeCondition):
    """Which arrays' manifests Icechunk preloads; build with the static methods."""

    _family = "ManifestPreloadCondition"

    @staticmethod
    def num_refs(from_refs: int | None, to_refs: int | None) -> ManifestPreloadCondition:
        return _PreloadNumRefs(from_refs, to_refs)

    @staticmethod
    def true() -> ManifestPreloadCondition:
        return _PreloadTrue()

    @staticmethod
    def false() -> ManifestPreloadCondition:
        return _PreloadFalse()


_add_tree_builders(ManifestPreloadCondition)


class _PreloadNumRefs(ManifestPreloadCondition):
    _builder = "num_refs"

    def __init__(self, from_refs: int | None, to_refs: int | None) -> None:
        for bound in (from_refs, to_refs):
            if bound is not None and (not isinstance(bound, int) or bound < 0):
                raise ValueError(
                    f"num_refs bounds must be non-negative ints or None, got {bound!r}"
                )
        self._args = (from_refs, to_refs)


# The bounds of NumRefs, under Icechunk's names (`from` is a keyword, hence setattr).
setattr(_PreloadNumRefs, "from", property(lambda self: self._args[0]))
_PreloadNumRefs.to = property(lambda self: self._args[1])  # type: ignore[attr-defined]


class _PreloadTrue(ManifestPreloadCondition):
    _builder = "true"


class _PreloadFalse(ManifestPreloadCondition):
    _builder = "false"


_nest(ManifestPreloadCondition, "NumRefs", _PreloadNumRefs)
_nest(ManifestPreloadCondition, "True", _PreloadTrue)
_nest(ManifestPreloadCondition, "False", _PreloadFalse)


# ---- splitting ------------------------------------------------------------------------------


class ManifestSplitCondition(_TreeCondition):
    """Which arrays a split size applies to; build with the static methods or ``AnyArray()``."""

    _family = "ManifestSplitCondition"


_add_tree_builders(ManifestSplitCondition)


class _SplitAnyArray(ManifestSplitCondition):
    _builder = "any_array"


_nest(ManifestSplitCondition, "AnyArray", _SplitAnyArray)


class ManifestSplitDimCondition(_Condition):
    """Which dimension of an array a split size applies to: ``Axis(n)``,
    ``DimensionName(name)`` or ``Any()`` (every other dimension)."""

    _family = "ManifestSplitDimCondition"


class _DimAxis(ManifestSplitDimCondition):
    _builder = "axis"

    def __init__(self, _0: int) -> None:
        if not isinstance(_0, int) or _0 < 0:
            raise ValueError(f"an axis is a non-negative int, got {_0!r}")
        self._args = (_0,)


class _DimName(ManifestSplitDimCondition):
    _builder = "dimension_name"

    def __init__(self, _0: str) -> None:
        if not isinstance(_0, str):
            raise TypeError(f"a dimension name is a str, got {type(_0).__name__}")
        self._args = (_0,)


class _DimAny(ManifestSplitDimCondition):
    _builder = "any"


_nest(ManifestSplitDimCondition, "Axis", _DimAxis)
_nest(ManifestSplitDimCondition, "DimensionName", _DimName)
_nest(ManifestSplitDimCondition, "Any", _DimAny)
