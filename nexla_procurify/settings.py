"""Parsing a configuration, one way for the source and the destination: every problem is
collected, and all of them are reported at once in one ``ConfigurationError``.

A parser opens ``Settings`` on the configuration it was given, reads each key through a check
(``whole_number``, ``concurrency``, ``boolean``, ``choice``, ``text``, or its own, noting what
is wrong with ``problem``), and ends with ``checked()``. A check never raises: it notes the
problem and returns a fallback, so that the checks after it still run and the user fixes
everything in one go. ``null`` means "not set" (hosts' forms send it for a setting left empty).
"""

from __future__ import annotations

__all__ = ["MAX_SHOWN_VALUE", "Settings", "alternatives", "named", "shown", "without_nulls"]

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from nexla_procurify.concurrency import AUTO, Concurrency
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.resources import Resource, catalogue
from nexla_procurify.secret import MIN_MASKED_LENGTH
from nexla_procurify.validation import schema_problems, shipped_validator

# Longer names are cut in messages, so that a huge one does not flood them.
MAX_SHOWN_VALUE = 40

_T = TypeVar("_T")


def without_nulls(config: Mapping[Any, Any]) -> dict[Any, Any]:
    """``config`` without the keys set to ``null``: hosts' forms send ``null`` for a setting
    left empty, and that means "not set"."""
    return {key: value for key, value in config.items() if value is not None}


def shown(value: object) -> str:
    """A wrong value described for a message, never the secret pasted into the wrong setting:
    text is quoted whole only when shorter than any secret the connector masks
    (``MIN_MASKED_LENGTH``, 8 characters), longer text by its length alone (even a few of a
    secret's characters would give it away in part); numbers, ``true`` and ``false`` as they
    are, objects and lists by their kind."""
    if isinstance(value, str):
        if len(value) < MIN_MASKED_LENGTH:
            return repr(value)
        return f"a text of {len(value)} characters"
    if value is None or isinstance(value, bool | int | float):
        return named(value)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def named(name: object) -> str:
    """A name the user chose (a stream's) quoted for a message, shortened so that a huge one
    does not flood it. It is quoted because the user needs it to find what is wrong; when it
    is the secret misplaced, the entry point masks it (``errors.masking``)."""
    text = repr(name)
    return text if len(text) <= MAX_SHOWN_VALUE else text[: MAX_SHOWN_VALUE - 3] + "..."


def alternatives(choices: Sequence[object]) -> str:
    """``"a" or "b"``, or ``one of "a", "b", "c"``: the accepted values, as JSON."""
    quoted = [json.dumps(choice) for choice in choices]
    if len(quoted) == 2:
        return " or ".join(quoted)
    return "one of " + ", ".join(quoted)


class Settings:
    """One configuration being checked: its values (``null`` dropped) and the problems found.

    ``what`` names the configuration in messages (``"source"``, ``"destination"``). Not a
    value: a parser's scratch pad, used by one call and dropped.
    """

    def __init__(self, config: object, *, what: str) -> None:
        if not isinstance(config, Mapping):
            raise ConfigurationError(f"The {what} configuration must be a JSON object.")
        self.what = what
        self.values: dict[Any, Any] = without_nulls(config)
        self.problems: list[str] = []

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default: Any = None) -> Any:
        """The value as given (unchecked), or ``default`` when not set."""
        return self.values.get(key, default)

    def problem(self, message: str) -> None:
        """Note a problem: a whole sentence naming the key, saying what it must be."""
        if message not in self.problems:
            self.problems.append(message)

    def unknown_keys(
        self, allowed: Sequence[str], *, called: str = "setting", where: str = ""
    ) -> None:
        """A problem naming every key not in ``allowed`` (``called`` names what a key is,
        ``where`` what it was looked up for), with the allowed ones in their given order."""
        unknown = sorted(str(key) for key in self.values if key not in allowed)
        if unknown:
            self.problem(
                f"Unknown {self.what} {called}(s){where}: {', '.join(unknown)}. "
                f"Allowed: {', '.join(allowed)}."
            )

    def resource(self, mode: str) -> Resource | None:
        """The catalogue's resource named by ``resource`` for ``mode`` (``source`` or
        ``destination``); ``None``, with the problem noted, when it is missing or unknown."""
        if "resource" not in self.values:
            names = ", ".join(catalogue().names(mode))
            self.problem(f"'resource' is required; choose one of: {names}.")
            return None
        try:
            return catalogue().get(self.values["resource"], mode)
        except ConfigurationError as error:
            self.problem(error.message)
            return None

    def whole_number(self, key: str, default: int, *, maximum: int, minimum: int = 1) -> int:
        """A whole number from ``minimum`` to ``maximum`` (``true`` is not one)."""
        value = self.values.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not (minimum <= value <= maximum)
        ):
            self.problem(f"'{key}' must be a whole number from {minimum} to {maximum}.")
            return default
        return value

    def concurrency(self, key: str, default: Concurrency, *, maximum: int) -> Concurrency:
        """``"auto"`` (the controller finds the limit) or a whole number from 1 to
        ``maximum`` that pins it."""
        value = self.values.get(key, default)
        if value == AUTO:
            return AUTO
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
            self.problem(f"'{key}' must be \"auto\" or a whole number from 1 to {maximum}.")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        """``true`` or ``false``."""
        value = self.values.get(key, default)
        if not isinstance(value, bool):
            self.problem(f"'{key}' must be true or false.")
            return default
        return value

    def choice(self, key: str, choices: Sequence[_T], default: _T) -> _T:
        """One of ``choices`` (the one from ``choices`` itself, so that a ``Literal`` type
        holds), or ``default`` when not set."""
        value = self.values.get(key, default)
        for choice in choices:
            if value == choice and type(value) is type(choice):
                return choice
        self.problem(f"'{key}' must be {alternatives(choices)} (got {shown(value)}).")
        return default

    def text(self, key: str, *, example: str | None = None) -> str | None:
        """Text, or ``None`` when not set (whether it is required is the caller's)."""
        value = self.values.get(key)
        if value is None or isinstance(value, str):
            return value
        such_as = f", such as {json.dumps(example)}" if example else ""
        self.problem(f"'{key}' must be text{such_as}.")
        return None

    def schema_backstop(self, schema_path: str) -> None:
        """The shipped schema (``"schemas/..."``) as a backstop, when nothing else was found:
        what a host validated is what is accepted, and whatever the schema still refuses is
        said in our words."""
        if self.problems:
            return
        whole = "the configuration"
        found = schema_problems(shipped_validator(schema_path), self.values, whole=whole)
        for name, messages in found.items():
            reason = " and ".join(messages)
            self.problem(f"The configuration {reason}." if name == whole else f"'{name}' {reason}.")

    def checked(self) -> None:
        """Raise one ``ConfigurationError`` naming every problem noted, if any."""
        if self.problems:
            raise ConfigurationError(
                f"Invalid {self.what} configuration. " + " ".join(self.problems)
            )
