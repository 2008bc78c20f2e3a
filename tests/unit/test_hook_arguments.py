"""The hooks given arguments of the wrong type: a ``ConfigurationError`` saying which, never an
``AttributeError`` from deep inside."""

from __future__ import annotations

from typing import Any

import pytest

from nexla_procurify import plugin
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import parse
from nexla_procurify.errors import ConfigurationError

CREDENTIAL = {
    "name": "Acme",
    "client_id": "abc",
    "client_secret": "s3cr3t-for-hook-arguments",
    "base_url": "https://acme.procurify.com",
}
COMMON: dict[str, Any] = {"connector_type": plugin.CONNECTOR_TYPE, "state": None}


@pytest.fixture
def session() -> ProcurifySession:
    return ProcurifySession(parse(CREDENTIAL))


@pytest.mark.parametrize("wrong", [None, "abc", {"client_id": "abc"}])
def test_what_is_not_a_session_is_refused(wrong: Any) -> None:
    with pytest.raises(ConfigurationError, match="'session' must be the session"):
        plugin.read_source(**COMMON, session=wrong, config={"resource": "vendors"})
    with pytest.raises(ConfigurationError, match="'session' must be the session"):
        plugin.read_sources(**COMMON, session=wrong, configs={"v": {"resource": "vendors"}})
    with pytest.raises(ConfigurationError, match="'session' must be the session"):
        plugin.write_destination(
            connector_type=plugin.CONNECTOR_TYPE,
            session=wrong,
            config={"resource": "vendors", "operation": "upsert"},
            records=[],
        )


@pytest.mark.parametrize(
    ("configs", "said"),
    [
        (None, "'configs' must be an object of stream names"),
        ([{"resource": "vendors"}], "'configs' must be an object of stream names"),
        ({1: {"resource": "vendors"}}, "Stream names in 'configs' must be text, not int"),
    ],
)
def test_configs_of_several_streams_must_name_them(
    session: ProcurifySession, configs: Any, said: str
) -> None:
    with pytest.raises(ConfigurationError, match=said):
        plugin.read_sources(**COMMON, session=session, configs=configs)
