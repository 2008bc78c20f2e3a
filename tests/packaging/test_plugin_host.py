"""The host contract: pluggy hooks, firstresult dispatch by connector type, entry points."""

from __future__ import annotations

import importlib.metadata
import json
from types import SimpleNamespace
from typing import Any

import pluggy
import pytest
from shared import REPO

import nexla_procurify
from nexla_procurify import hookspecs, plugin
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV
from nexla_procurify.errors import ConfigurationError, CredentialError
from nexla_procurify.host import Host
from nexla_procurify.messages import ValidationResult

SECRET = "HostContractSecret0123456789"
CREDENTIAL = {
    "name": "prod",
    "client_id": "cid",
    "client_secret": SECRET,
    "base_url": "https://acme.procurify.com",
}


class DummyConnector:
    """Another connector sharing the plugin manager."""

    @hookspecs.hookimpl
    def connector_manifest(self) -> dict[str, Any]:
        return {"type": "dummy", "display_name": "Dummy"}

    @hookspecs.hookimpl
    def validate_credential(
        self, connector_type: str, credential: dict[str, Any], live: bool
    ) -> Any:
        if connector_type != "dummy":
            return None
        return SimpleNamespace(ok=True, errors=(), owner="dummy")

    @hookspecs.hookimpl
    def authenticate(self, connector_type: str, credential: dict[str, Any]) -> Any:
        if connector_type != "dummy":
            return None
        return "dummy-session"


def manager(*plugins: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("nexla")
    pm.add_hookspecs(hookspecs)
    for registered in plugins:
        pm.register(registered)
    return pm


def repository_manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REPO / "connector.json").read_text(encoding="utf-8"))
    return loaded


def test_markers_and_spec() -> None:
    assert hookspecs.PROJECT == "nexla"
    assert hookspecs.ENTRY_POINT_GROUP == "nexla.connectors"
    pm = manager()
    spec = pm.hook.connector_manifest.spec
    assert spec is not None
    assert spec.opts["firstresult"] is False
    for name in ("validate_credential", "authenticate", "read_source", "write_destination"):
        assert getattr(pm.hook, name).spec.opts["firstresult"] is True, name


def test_plugin_conforms_to_the_spec() -> None:
    pm = manager(plugin)
    pm.check_pending()  # every hookimpl matches a spec, with compatible arguments
    assert plugin in pm.get_plugins()


def test_connector_manifest_is_a_list_with_the_parsed_file() -> None:
    pm = manager(plugin)
    manifests = pm.hook.connector_manifest()
    assert isinstance(manifests, list)
    assert manifests == [repository_manifest()]
    manifest = manifests[0]
    assert manifest["type"] == "procurify"
    assert manifest["version"] == nexla_procurify.__version__
    assert manifest["schemas"]["credential"] == "schemas/credential.schema.json"
    assert (REPO / manifest["schemas"]["credential"]).is_file()
    for resource in manifest["resources"]:
        if "stream_schema" in resource:
            assert (REPO / resource["stream_schema"]).is_file(), resource["name"]


def test_manifest_copies_are_independent() -> None:
    pm = manager(plugin)
    first = pm.hook.connector_manifest()[0]
    first["type"] = "tampered"
    assert pm.hook.connector_manifest()[0]["type"] == "procurify"


@pytest.mark.parametrize("order", ["procurify-first", "dummy-first"])
def test_firstresult_picks_the_right_connector(order: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    dummy = DummyConnector()
    pm = manager(plugin, dummy) if order == "procurify-first" else manager(dummy, plugin)
    hook = pm.hook

    ours = hook.validate_credential(connector_type="procurify", credential=CREDENTIAL, live=False)
    assert isinstance(ours, ValidationResult)
    assert ours.ok
    theirs = hook.validate_credential(connector_type="dummy", credential={}, live=False)
    assert theirs.owner == "dummy"
    assert hook.validate_credential(connector_type="other", credential={}, live=False) is None

    session = hook.authenticate(connector_type="procurify", credential=CREDENTIAL)
    assert isinstance(session, ProcurifySession)
    session.close()
    assert hook.authenticate(connector_type="dummy", credential={}) == "dummy-session"
    assert hook.authenticate(connector_type="other", credential=CREDENTIAL) is None

    manifests = hook.connector_manifest()
    assert sorted(m["type"] for m in manifests) == ["dummy", "procurify"]


@pytest.mark.parametrize("hook_name", ["read_source", "write_destination"])
def test_other_hooks_ignore_other_connector_types(hook_name: str) -> None:
    pm = manager(plugin)
    caller = getattr(pm.hook, hook_name)
    assert caller.get_hookimpls(), f"the plugin must implement {hook_name}"
    kwargs: dict[str, Any] = {"connector_type": "other", "session": object(), "config": {}}
    if hook_name == "read_source":
        kwargs["state"] = None
    else:
        kwargs["records"] = []
    assert caller(**kwargs) is None


def test_validate_credential_hook_returns_field_errors() -> None:
    pm = manager(plugin)
    result = pm.hook.validate_credential(
        connector_type="procurify",
        credential=dict(CREDENTIAL, base_url="http://acme.procurify.com/", client_id=""),
        live=False,
    )
    assert not result.ok
    assert {error.field for error in result.errors} == {"base_url", "client_id"}
    assert SECRET not in json.dumps(result.to_dict())


def test_authenticate_with_a_bad_credential_raises_a_credential_error() -> None:
    pm = manager(plugin)
    with pytest.raises(CredentialError) as raised:
        pm.hook.authenticate(
            connector_type="procurify", credential=dict(CREDENTIAL, base_url="https://x.com")
        )
    assert [field for field, _ in raised.value.errors] == ["base_url"]
    assert SECRET not in str(raised.value)


def test_authenticate_makes_no_request(requests_mock: Any) -> None:
    pm = manager(plugin)
    session = pm.hook.authenticate(connector_type="procurify", credential=CREDENTIAL)
    assert session.base_url == "https://acme.procurify.com"
    assert requests_mock.call_count == 0  # the token is fetched when first needed
    session.close()


def test_entry_point_is_declared() -> None:
    found = [
        ep
        for ep in importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP)
        if ep.name == "procurify"
    ]
    assert found, "the package must be installed (pip install -e . or pip install .)"
    assert {ep.value for ep in found} == {"nexla_procurify.plugin"}
    assert found[0].load() is plugin


def test_host_loads_the_plugin_by_entry_point() -> None:
    host = Host()
    assert "procurify" in host.connector_types()
    assert host.plugin_manager.get_plugin("procurify") is plugin
    result = host.validate_credential("procurify", CREDENTIAL)
    assert result.ok


def test_host_with_explicit_plugins() -> None:
    host = Host(plugins=[plugin, DummyConnector()])
    assert sorted(host.connector_types()) == ["dummy", "procurify"]
    assert host.authenticate("dummy", {}) == "dummy-session"


def test_host_says_when_no_connector_handles_a_type() -> None:
    host = Host(plugins=[plugin])
    with pytest.raises(ConfigurationError, match=r"No installed connector handles type 'nope'"):
        host.validate_credential("nope", CREDENTIAL)
    with pytest.raises(ConfigurationError, match="installed: procurify"):
        host.authenticate("nope", CREDENTIAL)
