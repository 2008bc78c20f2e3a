"""``nexla_procurify.dlt``'s wiring, checked with a stand-in for dlt (dlt is an optional
extra, not installed for the test suite; ``.ci/downstream`` runs the real one): the source's
name and section, one merge resource per selected resource with its primary key and column
hints, the read state in the resource's own state, the credential checked first."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from nexla_procurify.dlt_reading import STATE_KEY
from nexla_procurify.errors import ConfigurationError, CredentialError
from nexla_procurify.sandbox import Sandbox


class FakeDlt(ModuleType):
    """What ``nexla_procurify.dlt`` uses of dlt, recording how it is called."""

    def __init__(self) -> None:
        super().__init__("dlt")
        self.states: dict[str, dict[str, Any]] = {}
        self.source_options: dict[str, Any] = {}
        self.secrets = SimpleNamespace(value=None)
        self.current = SimpleNamespace(resource_state=self._resource_state)

    def _resource_state(self, name: str) -> dict[str, Any]:
        return self.states.setdefault(name, {})

    def source(self, function: Callable[..., Any], **options: Any) -> Callable[..., Any]:
        self.source_options = options
        return function

    @staticmethod
    def resource(records: Callable[[], Iterator[Any]], **hints: Any) -> dict[str, Any]:
        return {"records": records, **hints}


@pytest.fixture
def fake_dlt(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDlt]:
    fake = FakeDlt()
    monkeypatch.setitem(sys.modules, "dlt", fake)
    monkeypatch.delitem(sys.modules, "nexla_procurify.dlt", raising=False)
    yield fake
    sys.modules.pop("nexla_procurify.dlt", None)  # built on the stand-in: not for later tests


def source_module() -> Any:
    return importlib.import_module("nexla_procurify.dlt")


def test_the_source_is_named_procurify_and_stores_nested_values_as_json(fake_dlt: FakeDlt) -> None:
    source_module()
    assert fake_dlt.source_options == {
        "name": "procurify",
        "section": "procurify",
        "max_table_nesting": 0,
    }


def test_one_merge_resource_per_selected_resource(sandbox: Sandbox, fake_dlt: FakeDlt) -> None:
    resources = source_module().procurify_source(
        sandbox.credential(), resources=["vendors", "purchase_orders"], settings={"page_size": 5}
    )
    assert [each["name"] for each in resources] == ["vendors", "purchase_orders"]
    assert [each["table_name"] for each in resources] == ["vendors", "purchase_orders"]
    assert [each["primary_key"] for each in resources] == [["id"], ["uuid"]]
    assert {each["write_disposition"] for each in resources} == {"merge"}
    vendors, orders = (each["columns"] for each in resources)
    assert vendors["id"] == {"name": "id", "data_type": "bigint", "nullable": False}
    assert "dedup_sort" not in str(vendors)
    # Of a record read twice in one load, the newest is kept.
    assert orders["last_modified"]["dedup_sort"] == "desc"
    assert sandbox.requests == []  # nothing read before dlt asks


def test_each_resource_reads_from_and_into_its_own_dlt_state(
    sandbox: Sandbox, fake_dlt: FakeDlt
) -> None:
    (orders,) = source_module().procurify_source(
        sandbox.credential(), resources=["purchase_orders"]
    )
    first = list(orders["records"]())
    assert len(first) == len(sandbox.records("purchase_orders"))
    state = fake_dlt.states["purchase_orders"][STATE_KEY]
    assert state["resource"] == "purchase_orders"
    assert state["cursor"]
    second = list(orders["records"]())
    assert len(second) < len(first)  # incremental: from the saved cursor
    assert list(fake_dlt.states) == ["purchase_orders"]


def test_every_resource_by_default(sandbox: Sandbox, fake_dlt: FakeDlt) -> None:
    from nexla_procurify.resources import catalogue

    resources = source_module().procurify_source(sandbox.credential())
    assert [each["name"] for each in resources] == catalogue().names("source")


def test_problems_are_raised_when_the_source_is_made(sandbox: Sandbox, fake_dlt: FakeDlt) -> None:
    module = source_module()
    with pytest.raises(CredentialError, match="base_url"):
        module.procurify_source({**sandbox.credential(), "base_url": "http://example.com"})
    with pytest.raises(ConfigurationError, match="Unknown source resource"):
        module.procurify_source(sandbox.credential(), resources=["nope"])
    assert sandbox.requests == []
