"""Fitting stored records to the schema of the answer that shows them.

A collection's records are shaped as its list operation's items; a single GET, a write's answer
or a request body may declare other fields or other shapes for the same field. ``project`` keeps
what fits, drops what the answer does not declare and generates what it declares and the record
lacks; ``merge`` lays a request body over a record the same way.
"""

from __future__ import annotations

__all__ = ["MISSING", "Schema", "Shaper"]

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from jsonschema import Draft202012Validator

from nexla_procurify.sandbox.contract import Contract

Schema = Mapping[str, Any]
Record = dict[str, Any]
_MISSING: Any = object()
MISSING: Any = _MISSING  # what ``conform`` answers for a value that cannot fit
_MOST_FITS = 100_000  # remembered answers of ``Shaper.fits`` (forgotten all at once beyond)


class Shaper:
    """Answers shaped as the contract's schemas say: validators, properties and items of a
    schema."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        # by the schema object's id, the schema kept alongside so that the id stays its own
        self._checks: dict[int, tuple[Schema, Draft202012Validator]] = {}
        # whether a value fits a schema, by the schema's id and the value's JSON text: the same
        # nested records are fitted again and again (a bill's items, each detail answer), and
        # validating them was most of what a detail answer cost
        self._fits: dict[tuple[int, str], bool] = {}

    def check(self, schema: Schema) -> Draft202012Validator:
        """The validator of ``schema`` (compiled once per schema object)."""
        found = self._checks.get(id(schema))
        if found is None or found[0] is not schema:
            found = self._checks[id(schema)] = (schema, self.contract.validator_for(schema))
        return found[1]

    def resolve(self, schema: Schema) -> Schema:
        """``schema`` with its top-level ``$ref`` followed and ``allOf`` parts merged."""
        return self.contract.resolve(schema)

    def properties(self, schema: Schema) -> dict[str, Schema] | None:
        """The properties ``schema`` declares (over its branches); None for a free object."""
        schema = self.resolve(schema)
        found: dict[str, Schema] = {}
        free = isinstance(schema.get("additionalProperties"), Mapping)
        for option in schema.get("oneOf", ()) or schema.get("anyOf", ()):
            more = self.properties(option)
            if more is None:
                free = True
            else:
                for key, value in more.items():
                    found.setdefault(key, value)
        found.update(schema.get("properties", {}))
        return None if free and not found else found

    def items(self, schema: Schema) -> Schema | None:
        """The schema of the items of an array ``schema`` (over its branches); ``None`` when it
        has none."""
        schema = self.resolve(schema)
        for option in [schema, *schema.get("oneOf", ()), *schema.get("anyOf", ())]:
            option = self.resolve(option)
            if isinstance(option.get("items"), Mapping):
                found: Schema = option["items"]
                return found
        return None

    def strip(self, value: Any, schema: Schema) -> Any:
        """``value`` without the fields ``schema`` does not declare (at any depth)."""
        if isinstance(value, dict):
            props = self.properties(schema)
            if props is None:
                return value
            return {k: self.strip(v, props[k]) for k, v in value.items() if k in props}
        if isinstance(value, list):
            items = self.items(schema)
            return value if items is None else [self.strip(item, items) for item in value]
        return value

    def conform(self, value: Any, schema: Schema) -> Any:
        """``value`` fitted to ``schema``, or ``_MISSING`` when it cannot be."""
        fitted = self.strip(value, schema)
        if self.fits(fitted, schema):
            return fitted
        if isinstance(fitted, str):
            try:
                number = float(fitted)
            except ValueError:
                return _MISSING
            if self.fits(number, schema):
                return number
        if isinstance(value, dict) and self.fits(value.get("id"), schema):
            return value.get("id")
        return _MISSING

    def fits(self, value: Any, schema: Schema) -> bool:
        """Whether ``value`` is valid under ``schema`` (remembered, see ``_fits``)."""
        check = self.check(schema)  # first: it keeps ``schema``, so that its id stays its own
        key = (id(schema), json.dumps(value, sort_keys=True, default=repr))
        found = self._fits.get(key)
        if found is None:
            if len(self._fits) >= _MOST_FITS:
                self._fits.clear()
            found = self._fits[key] = check.is_valid(value)
        return found

    def project(
        self, record: Mapping[str, Any], schema: Schema, fill: Callable[[str, Schema], Any]
    ) -> Record:
        """``record`` as ``schema`` (an object) shows it; ``fill(name, schema)`` for the rest."""
        props = self.properties(schema) or {}
        out: Record = {}
        for name, prop in props.items():
            value = self.conform(record[name], prop) if name in record else _MISSING
            out[name] = fill(name, prop) if value is _MISSING else value
        return out

    def lay(self, current: Mapping[str, Any], value: Mapping[str, Any], schema: Schema) -> Record:
        """``current`` (an object of ``schema``) with each field of ``value`` that fits."""
        props = self.properties(schema) or {}
        out = dict(current)
        for key, item in value.items():
            if key in props:
                fitted = self.conform(item, props[key])
                if fitted is not _MISSING:
                    out[key] = fitted
        return out

    def merge(
        self,
        base: Mapping[str, Any],
        body: Mapping[str, Any],
        schema: Schema,
        protected: Collection[str],
    ) -> Record:
        """``base`` with the body's fields laid over it where they fit ``schema`` (a reference
        by id to a nested object replaces that object's id)."""
        props = self.properties(schema) or {}
        record = dict(base)
        for key, value in body.items():
            if key in protected or key not in props:
                continue
            fitted = self.conform(value, props[key])
            current = base.get(key)
            if fitted is _MISSING and isinstance(current, dict) and isinstance(value, int):
                fitted = self.conform({**current, "id": value}, props[key])
            if fitted is _MISSING and isinstance(current, dict) and isinstance(value, dict):
                fitted = self.conform(self.lay(current, value, props[key]), props[key])
            if fitted is not _MISSING:
                record[key] = fitted
        return record
