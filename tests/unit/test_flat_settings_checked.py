"""The flat configuration (tap, Airbyte source) refuses what a read would refuse, before any
read: in ``check`` too; its environment JSON is bounded and strict; and every example the
tap's ``--about`` and the Airbyte SPEC show is a configuration the parser accepts."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexla_procurify.airbyte import protocol
from nexla_procurify.airbyte.source import main as airbyte_main
from nexla_procurify.errors import ConfigurationError
from nexla_procurify.flat_config import from_environment, parse_flat_config
from nexla_procurify.tap import tap

CREDENTIAL = {
    "client_id": "abc",
    "client_secret": "s3cr3t-value",
    "base_url": "https://acme.procurify.com",
}
# Settings every stream's read refuses.
REFUSED = [
    ({"start_date": "yesterday"}, "'start_date' must be a date"),
    ({"role": "boss"}, "'role' must be"),
    ({"max_extra_pages": -5}, "'max_extra_pages' must be a whole number from 0"),
    ({"filters": {"vendors": {"active": True}}}, "vendors: Unknown filter 'active'"),
]


@pytest.mark.parametrize(("settings", "expected"), REFUSED)
def test_the_flat_configuration_refuses_what_a_read_refuses(
    settings: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(expected)) as raised:
        parse_flat_config({**CREDENTIAL, **settings})
    assert raised.value.message.count(expected) == 1  # said once, not once per stream


@pytest.mark.parametrize(("settings", "expected"), REFUSED)
def test_airbyte_check_fails_on_what_read_refuses(
    settings: dict[str, Any],
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**CREDENTIAL, **settings}))
    assert airbyte_main(["check", "--config", str(path)]) == 0
    [message] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    status = message["connectionStatus"]
    assert status["status"] == "FAILED"
    assert expected in status["message"]
    assert "s3cr3t-value" not in status["message"]


def test_settings_every_stream_takes_are_accepted() -> None:
    config = parse_flat_config(
        {
            **CREDENTIAL,
            "start_date": "2026-01-01T00:00:00Z",
            "role": "receivable",
            "max_extra_pages": 0,
            "filters": {"vendors": {"type": 2}, "locations": {"active": True}},
        }
    )
    assert config.source_config("vendors")["filters"] == {"type": 2}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[" * 50_000, "nested too deeply"),
        ('{"vendors": {"type": NaN}}', "NaN"),
        ('{"vendors": {"type": Infinity}}', "Infinity"),
        ('{"vendors": {"type": 1e400}}', "too large"),
        ("[1]", "must hold a JSON object"),
        ("nope", "not valid JSON"),
    ],
)
def test_filters_from_the_environment_are_bounded_and_strict(text: str, said: str) -> None:
    with pytest.raises(ConfigurationError, match="TAP_PROCURIFY_FILTERS") as raised:
        from_environment("TAP_PROCURIFY_", {"TAP_PROCURIFY_FILTERS": text})
    assert said in raised.value.message


@given(st.integers(min_value=1, max_value=20_000), st.sampled_from("[{"))
def test_deep_filters_never_escape_as_another_error(depth: int, bracket: str) -> None:
    with pytest.raises(ConfigurationError):
        from_environment("TAP_PROCURIFY_", {"TAP_PROCURIFY_FILTERS": bracket * depth})


def _snippets(text: str) -> list[Any]:
    """Every JSON object written inside ``text`` (the examples a description gives)."""
    found: list[Any] = []
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            end = start + 1
        else:
            found.append(value)
        start = text.find("{", end)
    return found


def _shown_settings() -> dict[str, dict[str, Any]]:
    """The settings as ``tap-procurify --about --format json`` and the SPEC show them."""
    out = io.StringIO()
    tap._about("json", out)
    about = json.loads(out.getvalue())["settings"]["properties"]
    spec = protocol.spec()["spec"]["connectionSpecification"]["properties"]
    return {f"about {key}": value for key, value in about.items()} | {
        f"spec {key}": value for key, value in spec.items()
    }


def _examples() -> list[tuple[str, str, Any]]:
    shown = []
    for where, prop in _shown_settings().items():
        key = where.split(" ", 1)[1]
        values = [*prop.get("examples", []), *_snippets(prop.get("description", ""))]
        if "default" in prop:
            values.append(prop["default"])
        shown += [(where, key, value) for value in values]
    return shown


def test_the_filters_description_shows_an_example() -> None:
    assert any(key == "filters" for _, key, _ in _examples())


@pytest.mark.parametrize(("where", "key", "value"), _examples())
def test_every_example_shown_is_accepted(where: str, key: str, value: Any) -> None:
    parse_flat_config({**CREDENTIAL, key: value})


@pytest.mark.parametrize(
    ("given", "expected"),
    [({}, "auto"), ({"concurrency": "auto"}, "auto"), ({"concurrency": 4}, 4)],
)
def test_the_budget_is_auto_unless_a_number_pins_it(
    given: dict[str, Any], expected: object
) -> None:
    flat = parse_flat_config({**CREDENTIAL, **given})
    assert flat.budget == expected
    assert flat.source_config("vendors")["concurrency"] == expected


def test_auto_comes_from_the_environment_and_anything_else_is_refused() -> None:
    assert from_environment("TAP_PROCURIFY_", {"TAP_PROCURIFY_CONCURRENCY": "auto"}) == {
        "concurrency": "auto"
    }
    assert from_environment("TAP_PROCURIFY_", {"TAP_PROCURIFY_CONCURRENCY": "8"}) == {
        "concurrency": 8
    }
    with pytest.raises(ConfigurationError, match='TAP_PROCURIFY_CONCURRENCY must be "auto" or'):
        from_environment("TAP_PROCURIFY_", {"TAP_PROCURIFY_CONCURRENCY": "many"})
    with pytest.raises(ConfigurationError, match="'concurrency' must be \"auto\" or"):
        parse_flat_config({**CREDENTIAL, "concurrency": "fast"})
