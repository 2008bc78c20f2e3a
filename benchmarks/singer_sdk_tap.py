"""A Procurify tap written the usual way with the Meltano Singer SDK, for comparison only.

``benchmarks/run.py`` runs it in a virtual environment of its own (``singer-sdk`` is not a
dependency of the connector) as ``python singer_sdk_tap.py --config FILE``. The config holds
``base_url``, ``token`` (an access token the benchmark obtained; the file is private and
deleted after the run) and ``streams``: for each stream its ``name``, list ``path``, query
``params``, ``schema`` (the connector's flattened one), ``key_properties``, ``pagination``
(``page``, ``none`` or ``single``) and, for a detail stream, ``parent`` and the parent's
``id_field`` (its path holds ``{id}``).

The usual way: one ``RESTStream`` per resource, a JSONPath to the records, the SDK's
``PageNumberPaginator`` told by ``metadata.pagination.num_pages`` when to stop, detail streams
as child streams fed by their parent's records. The SDK syncs the streams one after the other,
one request at a time.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import requests
from singer_sdk import RESTStream, Tap
from singer_sdk.pagination import PageNumberPaginator


class ProcurifyPages(PageNumberPaginator):
    """Page numbers until the answer's ``num_pages``."""

    def has_more(self, response: requests.Response) -> bool:
        pagination = response.json().get("metadata", {}).get("pagination", {})
        return self._value < int(pagination.get("num_pages") or 1)


class ProcurifyStream(RESTStream[int]):
    """One Procurify list (its details, for a child stream)."""

    spec: ClassVar[dict[str, Any]] = {}

    @property
    def url_base(self) -> str:
        return str(self.config["base_url"])

    @property
    def http_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.config['token']}",
            "X-Procurify-Client": "api",
            "Accept": "application/json",
        }

    def get_new_paginator(self) -> ProcurifyPages | None:  # type: ignore[override]
        return ProcurifyPages(1) if self.spec["pagination"] == "page" else None

    def get_url_params(self, context: Any, next_page_token: int | None) -> dict[str, Any]:
        params = dict(self.spec["params"])
        if self.spec["pagination"] == "page":
            params["page"] = next_page_token or 1
        return params

    def parse_response(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        # Locations wrap their records in items of their own (``{"data": [...]}``).
        for item in super().parse_response(response):
            inner = item.get("data")
            if "id" not in item and isinstance(inner, list):
                yield from inner
            else:
                yield item

    def get_child_context(self, record: dict[str, Any], context: Any) -> dict[str, Any] | None:
        if "child_id_field" not in self.spec:
            return None  # no child stream
        return {"id": record[self.spec["child_id_field"]]}


def stream_class(spec: dict[str, Any], parent: type[ProcurifyStream] | None) -> type:
    attributes: dict[str, Any] = {
        "name": spec["name"],
        "path": spec["path"],
        "schema": spec["schema"],
        "primary_keys": spec["key_properties"],
        "replication_key": None,
        "records_jsonpath": "$.data" if spec["pagination"] == "single" else "$.data[*]",
        "spec": spec,
    }
    if parent is not None:
        attributes["parent_stream_type"] = parent
        attributes["state_partitioning_keys"] = []
        attributes["records_jsonpath"] = "$.data"
    return type(f"Stream_{spec['name']}", (ProcurifyStream,), attributes)


class TapProcurifyBenchmark(Tap):
    """Every configured stream, in the configured order."""

    name = "tap-procurify-sdk-benchmark"
    config_jsonschema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

    def discover_streams(self) -> Iterable[RESTStream[int]]:
        classes: dict[str, type] = {}
        specs = list(self.config["streams"])
        parents = {spec["parent"]: spec for spec in specs if spec.get("parent")}
        for spec in specs:
            parent = classes.get(spec["parent"]) if spec.get("parent") else None
            if spec["name"] in parents:
                spec = {**spec, "child_id_field": parents[spec["name"]]["id_field"]}
            classes[spec["name"]] = stream_class(spec, parent)
        return [cls(tap=self) for cls in classes.values()]


if __name__ == "__main__":
    config = json.loads(Path(sys.argv[sys.argv.index("--config") + 1]).read_text())
    TapProcurifyBenchmark(config=config).sync_all()
