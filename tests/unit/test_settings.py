"""The shared configuration parsing: every problem collected, all reported at once."""

from __future__ import annotations

from typing import Any

import pytest

from nexla_procurify.errors import ConfigurationError
from nexla_procurify.settings import Settings, alternatives, named, shown, without_nulls


def problems_of(settings: Settings) -> str:
    with pytest.raises(ConfigurationError) as raised:
        settings.checked()
    return raised.value.message


@pytest.mark.parametrize("config", [None, [], "vendors", 3])
def test_a_configuration_must_be_an_object(config: object) -> None:
    with pytest.raises(ConfigurationError, match="The source configuration must be a JSON object"):
        Settings(config, what="source")


def test_null_means_not_set() -> None:
    assert without_nulls({"a": None, "b": 0, "c": False, "d": ""}) == {"b": 0, "c": False, "d": ""}
    settings = Settings({"size": None, "flag": None}, what="test")
    assert settings.whole_number("size", 7, maximum=10) == 7
    assert settings.boolean("flag", True) is True
    assert "size" not in settings
    settings.checked()


def test_nothing_wrong_raises_nothing() -> None:
    settings = Settings({"size": 3, "flag": False, "mode": "b", "name": "x"}, what="test")
    assert settings.whole_number("size", 1, maximum=10) == 3
    assert settings.boolean("flag", True) is False
    assert settings.choice("mode", ("a", "b"), "a") == "b"
    assert settings.text("name") == "x"
    settings.unknown_keys(("size", "flag", "mode", "name"))
    settings.checked()
    assert settings.problems == []


def test_every_problem_is_reported_at_once_and_checks_go_on_with_a_fallback() -> None:
    settings = Settings(
        {"size": 0, "flag": "yes", "mode": "c", "name": 5, "extra": 1, "more": 2}, what="test"
    )
    settings.unknown_keys(("size", "flag", "mode", "name"))
    assert settings.whole_number("size", 4, maximum=10) == 4
    assert settings.boolean("flag", False) is False
    assert settings.choice("mode", ("a", "b"), "a") == "a"
    assert settings.text("name", example="create") is None
    message = problems_of(settings)
    assert message.startswith("Invalid test configuration. ")
    for part in (
        "Unknown test setting(s): extra, more. Allowed: size, flag, mode, name.",
        "'size' must be a whole number from 1 to 10.",
        "'flag' must be true or false.",
        "'mode' must be \"a\" or \"b\" (got 'c').",
        "'name' must be text, such as \"create\".",
    ):
        assert part in message
    assert len(settings.problems) == 5


@pytest.mark.parametrize("value", [True, False, 2.0, "3", -1, 11])
def test_a_whole_number_is_a_bounded_int_and_never_a_boolean(value: Any) -> None:
    settings = Settings({"size": value}, what="test")
    assert settings.whole_number("size", 5, maximum=10, minimum=0) == 5
    assert "'size' must be a whole number from 0 to 10." in problems_of(settings)


def test_a_choice_is_the_one_from_the_choices_and_of_its_type() -> None:
    assert Settings({"n": 1}, what="test").choice("n", (1, 2, 3), 2) == 1
    settings = Settings({"n": True}, what="test")
    assert settings.choice("n", (1, 2, 3), 2) == 2
    assert "'n' must be one of 1, 2, 3 (got True)." in problems_of(settings)


def test_the_same_problem_is_said_once() -> None:
    settings = Settings({}, what="test")
    settings.problem("'x' is required.")
    settings.problem("'x' is required.")
    assert settings.problems == ["'x' is required."]


def test_unknown_keys_are_named_where_they_were_looked_up() -> None:
    settings = Settings({"b": 1, "a": 2, "z": 3}, what="source")
    settings.unknown_keys(("z",), called="configuration key", where=" for 'vendors'")
    assert "Unknown source configuration key(s) for 'vendors': a, b. Allowed: z." in problems_of(
        settings
    )


def test_the_schema_backstop_speaks_our_words_and_waits_for_the_other_checks() -> None:
    settings = Settings({"resource": "nope", "page_size": 9999}, what="source")
    settings.schema_backstop("schemas/source.schema.json")
    message = problems_of(settings)
    assert "'resource' must be one of" in message
    assert "'page_size' is out of range" in message

    earlier = Settings({"resource": "nope"}, what="source")
    earlier.problem("Something else is wrong.")
    earlier.schema_backstop("schemas/source.schema.json")
    assert earlier.problems == ["Something else is wrong."]


def test_a_whole_configuration_problem_is_not_quoted_as_a_key() -> None:
    settings = Settings({}, what="source")
    settings.schema_backstop("schemas/source.schema.json")
    assert "'resource' is required." in problems_of(settings)


def test_values_are_shown_short_and_choices_as_json() -> None:
    # Long text is described, never repeated: it may be a secret pasted into the wrong setting.
    assert shown("x" * 1000) == "a text of 1000 characters"
    assert shown("abc") == "'abc'"
    assert shown(3) == "3"
    assert named("x" * 1000) == "'" + "x" * 36 + "..."
    assert alternatives(["continue", "abort"]) == '"continue" or "abort"'
    assert alternatives(["a", "b", "c"]) == 'one of "a", "b", "c"'
