"""Every ``ProcurifyError`` keeps its type and fields when given context, copied or pickled."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import pickle
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from shared import optional_missing

import nexla_procurify
from nexla_procurify.errors import ProcurifyError

# A sample value for each constructor argument any subclass takes; a subclass with an
# argument not listed here makes the test fail, so that it is added (and covered).
SAMPLES: dict[str, Any] = {
    "message": "Something went wrong",
    "errors": [("client_id", "Client ID is required."), (None, "Bad credential.")],
    "status": 400,
    "field_errors": {"name": ["This field is required."]},
    "request_sent": True,
}


def _all_modules() -> None:
    for module in pkgutil.walk_packages(nexla_procurify.__path__, "nexla_procurify."):
        if optional_missing(module.name):
            continue
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def _subclasses(kind: type[ProcurifyError]) -> Iterator[type[ProcurifyError]]:
    for sub in kind.__subclasses__():
        yield sub
        yield from _subclasses(sub)


_all_modules()
HIERARCHY: list[type[ProcurifyError]] = sorted(
    {ProcurifyError, *_subclasses(ProcurifyError)}, key=lambda k: k.__qualname__
)


def test_the_hierarchy_is_enumerated() -> None:
    names = {kind.__name__ for kind in HIERARCHY}
    assert {"ApiError", "ConnectionFailedError", "CredentialError", "TransientError"} <= names


def build(kind: type[ProcurifyError]) -> ProcurifyError:
    arguments = {}
    for name, parameter in inspect.signature(kind).parameters.items():
        assert name in SAMPLES, f"{kind.__name__}({name}=...): add a sample value to SAMPLES"
        if parameter.kind is parameter.KEYWORD_ONLY or parameter.default is not parameter.empty:
            arguments[name] = SAMPLES[name]
    positional = [
        SAMPLES[name]
        for name, parameter in inspect.signature(kind).parameters.items()
        if name not in arguments
    ]
    return kind(*positional, **arguments)


def fields(error: BaseException) -> dict[str, Any]:
    return {key: value for key, value in vars(error).items() if key != "message"}


@pytest.mark.parametrize("kind", HIERARCHY, ids=lambda kind: kind.__name__)
def test_in_context_keeps_type_and_fields(kind: type[ProcurifyError]) -> None:
    original = build(kind)
    try:
        raise original
    except ProcurifyError as error:
        with pytest.raises(kind) as raised:
            raise error.in_context("Could not read vendors page 2") from error
    clone = raised.value
    assert type(clone) is kind
    assert clone.message == f"Could not read vendors page 2: {original.message}"
    assert str(clone) == clone.message
    assert clone.args == (clone.message,)
    assert fields(clone) == fields(original)
    assert clone.__cause__ is original
    assert original.message == str(original)  # the original is left as it was


@pytest.mark.parametrize("kind", HIERARCHY, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize(
    "duplicate",
    [copy.copy, copy.deepcopy, lambda error: pickle.loads(pickle.dumps(error))],  # noqa: S301
    ids=["copy", "deepcopy", "pickle"],
)
def test_copies_keep_type_and_fields(kind: type[ProcurifyError], duplicate: Any) -> None:
    original = build(kind)
    clone = duplicate(original)
    assert type(clone) is kind
    assert str(clone) == str(original)
    assert vars(clone) == vars(original)
