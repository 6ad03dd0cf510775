"""The one strict reader of parsed TOML, shared by toolchain.lock (pins/toolchain_lock.py) and the lock generator's
input (lockgen/input.py): typed accessors that fail with the dotted path of the bad value, never a KeyError."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import WasiError


def kind(value: Any) -> str:
    """How a bad value is named in an error: 'a table', 'a list', or its type and repr."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class StrictReader:
    """Subclasses say which error a problem becomes (``fail``) and how a missing or unknown key is named: with its
    dotted path (``dotted_keys``, the lock's style) or alone (the generator input's)."""

    dotted_keys = True
    stripped_strings = False  # refuse strings with leading or trailing white space (the generator input does)

    def fail(self, where: str, problem: str) -> WasiError:
        raise NotImplementedError

    def _key(self, where: str, key: str) -> str:
        return join(where, key) if self.dotted_keys else key

    def table(self, value: Any, where: str, required: set[str], optional: set[str] = frozenset()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a table, got {kind(value)}")
        missing = sorted(required - value.keys())
        if missing:
            raise self.fail(where, f"missing field {self._key(where, missing[0])!r}")
        unknown = sorted(value.keys() - required - optional)
        if unknown:
            raise self.fail(where, f"unknown field {self._key(where, unknown[0])!r}")
        return value

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        """A table whose keys are data (host names, provider names), not a fixed schema."""
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a table, got {kind(value)}")
        return value

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value or (self.stripped_strings and value != value.strip()):
            raise self.fail(where, f"expected a non-empty string, got {kind(value)}")
        return value

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        """A non-empty list of distinct non-empty strings."""
        if not isinstance(value, list) or not value:
            raise self.fail(where, f"expected a non-empty list of strings, got {kind(value)}")
        items = tuple(self.string(v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(set(items)) != len(items):
            raise self.fail(where, "lists a value twice")
        return items

    def choice(self, value: Any, where: str, choices: Sequence[str]) -> str:
        text = self.string(value, where)
        if text not in choices:
            raise self.fail(where, f"expected one of {', '.join(choices)}, got {text!r}")
        return text
