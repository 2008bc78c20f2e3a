"""SCHEMA messages carry the stream schemas flattened for Singer targets (issue 10, item 3): a
plain ``type`` everywhere, no ``$ref``/``anyOf``/``oneOf``, keys required and non-null; never
stricter than the shipped schema (but for the key), and every field the records carry declared."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator, Draft202012Validator
from shared import assert_records_match

from nexla_procurify import manifest, source
from nexla_procurify.resources import catalogue
from nexla_procurify.sandbox import Sandbox
from nexla_procurify.sandbox.contract import undeclared_fields
from nexla_procurify.singer_schema import MAX_REF_DEPTH, flatten_schema

READABLE = catalogue().names("source")
CHECKER = Draft202012Validator.FORMAT_CHECKER
LEFT_OUT = {"$ref", "$defs", "$schema", "$id", "anyOf", "oneOf", "allOf", "const"}


def flattened(name: str) -> dict[str, Any]:
    resource = catalogue().resources[name]
    assert resource.stream_schema is not None
    return flatten_schema(manifest.load_json(resource.stream_schema), resource.key)


def subschemas(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Any]]:
    """Every schema in ``schema`` (itself, properties, items, additionalProperties)."""
    yield path or "(top)", schema
    for name, sub in schema.get("properties", {}).items():
        yield from subschemas(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), Mapping):
        yield from subschemas(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from subschemas(schema["additionalProperties"], f"{path}.*")


def keywords(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for name, sub in value.items():
            yield name
            if name not in ("enum", "description", "title"):
                yield from keywords(sub)
    elif isinstance(value, list):
        for item in value:
            yield from keywords(item)


def types(schema: Mapping[str, Any]) -> list[str]:
    declared = schema["type"]
    return [declared] if isinstance(declared, str) else list(declared)


@pytest.mark.parametrize("name", READABLE)
def test_the_flattened_schema_is_plain_with_its_key_required_and_non_null(name: str) -> None:
    schema = flattened(name)
    assert not LEFT_OUT & set(keywords(schema)), name
    assert not [k for k in keywords(schema) if k.startswith("x-")], name
    for path, sub in subschemas(schema):
        assert "type" in sub, (name, path)
        assert set(types(sub)) <= {
            "object",
            "array",
            "string",
            "integer",
            "number",
            "boolean",
            "null",
        }, (name, path)
        assert types(sub) == [t for t in types(sub) if t != "null"] + ["null"] * (
            "null" in types(sub)
        ), (name, path)  # nullable as ["X", "null"]
    assert schema["type"] == "object"
    for key in catalogue().resources[name].key:
        assert key in schema["required"], (name, key)
        assert "null" not in types(schema["properties"][key]), (name, key)
    # Valid for the draft-4 validators Singer targets use as well as for 2020-12.
    Draft4Validator.check_schema(schema)
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", READABLE)
def test_every_record_read_validates_against_the_flattened_schema(
    sandbox: Sandbox, name: str
) -> None:
    assert_records_match(sandbox.credential(), name, flattened(name), {})


def test_schema_messages_and_discover_carry_the_flattened_schemas() -> None:
    messages = list(source.discover())
    assert [message.stream for message in messages] == READABLE
    for message in messages:
        assert message.schema == flattened(message.stream)
        assert message.to_dict()["schema"] == flattened(message.stream)
    shipped = manifest.load_json("schemas/streams/vendors.json")
    assert "$schema" in shipped  # what ships stays as it is


NULL = {"type": "null"}
ENUM_DEFS = {
    "Status": {"type": "string", "enum": ["a", "b"]},
    "Null": NULL,
    "Blank": {"type": "string", "enum": [""]},
}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"anyOf": [{"type": "integer"}, NULL]}, {"type": ["integer", "null"]}),
        (
            {"anyOf": [{"type": "string", "format": "date-time"}, NULL]},
            {"type": ["string", "null"], "format": "date-time"},
        ),
        (
            {
                "oneOf": [
                    {"$ref": "#/$defs/Status"},
                    {"$ref": "#/$defs/Blank"},
                    {"$ref": "#/$defs/Null"},
                ]
            },
            {"type": ["string", "null"], "enum": ["a", "b", "", None]},
        ),
        (
            {"anyOf": [{"oneOf": [{"type": "string"}, {"type": "boolean"}]}, NULL]},
            {"type": ["string", "boolean", "null"]},
        ),
        ({"const": 3}, {"type": "integer", "enum": [3]}),
        (
            {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "number", "minimum": -1}]},
            {"type": "number", "minimum": -1},
        ),
        (
            {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "string", "maxLength": 5}]},
            {"type": "string", "maxLength": 5},
        ),
        (
            {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer"}]},
            {"type": ["string", "integer"], "maxLength": 3},
        ),
        ({"anyOf": [{"type": "string", "maxLength": 3}, {"type": "string"}]}, {"type": "string"}),
        (
            {
                "anyOf": [
                    {
                        "type": "object",
                        "properties": {"a": {"type": "integer"}},
                        "required": ["a"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {"b": {"type": "string"}},
                        "required": ["b"],
                        "additionalProperties": False,
                    },
                ]
            },
            {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
                "additionalProperties": False,
            },
        ),
        (
            {"allOf": [{"type": ["integer", "null"]}, {"type": "number", "maximum": 4}]},
            {"type": "integer", "maximum": 4},
        ),
        (
            {"type": "array", "items": {"anyOf": [{"$ref": "#/$defs/Status"}, NULL]}},
            {"type": "array", "items": {"type": ["string", "null"], "enum": ["a", "b", None]}},
        ),
        ({}, {"type": ["object", "array", "string", "number", "boolean", "null"]}),
        ({"type": "object", "additionalProperties": {}}, {"type": "object"}),
    ],
)
def test_a_composition_flattens_to_one_plain_schema(
    given: dict[str, Any], expected: dict[str, Any]
) -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": ENUM_DEFS,
        "type": "object",
        "properties": {"x": given},
    }
    assert flatten_schema(schema)["properties"]["x"] == expected


def test_the_key_is_made_required_and_non_null_and_the_input_is_left_as_it_was() -> None:
    schema = {
        "title": "T",
        "x-key-properties": ["id"],
        "type": "object",
        "properties": {"id": {"anyOf": [{"type": "integer"}, NULL]}, "n": {"type": "string"}},
    }
    before = json.dumps(schema)
    assert flatten_schema(schema, ("id",)) == {
        "title": "T",
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "integer"}, "n": {"type": "string"}},
    }
    assert json.dumps(schema) == before


def test_a_recursive_reference_is_cut_short_into_the_types_its_target_declares() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, NULL]},
                },
            }
        },
        "$ref": "#/$defs/Node",
    }
    flat = flatten_schema(schema)
    assert "$ref" not in json.dumps(flat)
    assert flat["properties"]["children"]["items"] == {"type": "object"}
    assert flat["properties"]["parent"] == {"type": ["object", "null"]}
    deep = {
        "name": "a",
        "children": [{"name": "b", "children": [{"name": "c", "x": 1}]}],
        "parent": {"parent": None},
    }
    assert Draft202012Validator(schema).is_valid(deep)
    assert Draft202012Validator(flat).is_valid(deep)


def test_references_deeper_than_the_bound_are_cut_short() -> None:
    depth = MAX_REF_DEPTH + 3
    defs = {
        f"D{i}": {"type": "object", "properties": {"next": {"$ref": f"#/$defs/D{i + 1}"}}}
        for i in range(depth)
    }
    defs[f"D{depth}"] = {"type": "string"}
    flat = flatten_schema({"$defs": defs, "$ref": "#/$defs/D0"})
    assert "$ref" not in json.dumps(flat)
    assert json.dumps(flat).count('"next"') == MAX_REF_DEPTH


# ------------------------------------------------------------ any valid instance stays valid

LEAVES: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {"type": "string"},
        {"type": "string", "maxLength": 2},
        {"type": "string", "format": "date"},
        {"type": "string", "pattern": "^a"},
        {"type": "integer"},
        {"type": "number", "maximum": 1.5},
        {"type": "integer", "minimum": 0, "maximum": 3},
        {"type": "boolean"},
        NULL,
        {"type": ["string", "null"]},
        {"enum": ["a", 1, None]},
        {"const": 2},
        {"type": "integer", "enum": [1, 2]},
        {},
    ]
)
# References (each definition may refer to itself) stand below an array or a property only, so
# that every cycle goes one level into the instance (a bare cycle is no schema at all).
REFS: st.SearchStrategy[dict[str, Any]] = st.sampled_from(["#/$defs/A", "#/$defs/B"]).flatmap(
    lambda ref: st.sampled_from(
        [{"$ref": ref}, {"anyOf": [{"$ref": ref}, NULL]}, {"allOf": [{"$ref": ref}]}]
    )
)


def _compose(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    several = st.lists(children, min_size=1, max_size=3)
    below = children | REFS
    objects = st.tuples(
        st.dictionaries(st.sampled_from("abc"), below, max_size=3),
        st.lists(st.sampled_from("abc"), max_size=2, unique=True),
        st.sampled_from([None, False, {}, {"type": "integer"}]),
    ).map(_object)
    return st.one_of(
        children.map(lambda s: {"anyOf": [s, NULL]}),
        several.map(lambda s: {"anyOf": s}),
        several.map(lambda s: {"oneOf": s}),
        several.map(lambda s: {"allOf": s}),
        below.map(lambda s: {"type": "array", "items": s}),
        children.map(lambda s: {"maximum": 2, "oneOf": [s, NULL]}),
        objects,
    )


def _object(parts: tuple[dict[str, Any], list[str], Any]) -> dict[str, Any]:
    properties, required, extra = parts
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if extra is not None:
        schema["additionalProperties"] = extra
    return schema


SCHEMAS = st.recursive(LEAVES, _compose, max_leaves=8)
ROOTS = st.tuples(SCHEMAS | REFS, SCHEMAS, SCHEMAS).map(
    lambda parts: {**parts[0], "$defs": {"A": parts[1], "B": parts[2]}}
)
SMALL = st.none() | st.booleans() | st.integers(-1, 3) | st.sampled_from(["", "a", "b"])


def instances(schema: Any, root: dict[str, Any], depth: int = 5) -> st.SearchStrategy[Any]:
    """Values aimed at ``schema`` (the test keeps those valid against it)."""
    if depth == 0 or not isinstance(schema, dict):
        return SMALL
    if "$ref" in schema:
        ref = schema["$ref"]
        return instances(root["$defs"][ref[len("#/$defs/") :]], root, depth - 1)
    for name in ("anyOf", "oneOf", "allOf"):
        if name in schema:
            return st.one_of([instances(sub, root, depth - 1) for sub in schema[name]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind is None or isinstance(kind, list):
        return SMALL
    if kind == "array":
        return st.lists(instances(schema.get("items"), root, depth - 1), max_size=2)
    if kind == "object":
        fields = {
            name: instances(sub, root, depth - 1)
            for name, sub in schema.get("properties", {}).items()
        }
        return st.fixed_dictionaries({}, optional={**fields, "z": SMALL})
    return {
        "string": st.sampled_from(["", "a", "ab", "abc", "2024-02-29"]),
        "integer": st.integers(-1, 4),
        "number": st.sampled_from([0, 1.25, 2.5, -3]),
        "boolean": st.booleans(),
        "null": st.none(),
    }[kind]


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_instance_valid_against_a_schema_is_valid_against_its_flattened_form(
    data: st.DataObject,
) -> None:
    root = data.draw(ROOTS)
    instance = data.draw(instances(root, root))
    assume(Draft202012Validator(root, format_checker=CHECKER).is_valid(instance))
    flat = flatten_schema(root)
    assert not {"$ref", "anyOf", "oneOf", "allOf", "$defs"} & set(keywords(flat))
    assert all("type" in sub for _, sub in subschemas(flat))
    errors = [
        e.message for e in Draft202012Validator(flat, format_checker=CHECKER).iter_errors(instance)
    ]
    assert errors == [], (flat, instance)
    assert set(undeclared_fields(flat, instance, {})) <= set(
        undeclared_fields(root, instance, root["$defs"])
    )
