"""The sandbox's fixtures as a pytest plugin: a host's own test suite, run by pytest in a
process of its own with nothing in its conftest, finds them by entry point (``pytest11``)."""

from __future__ import annotations

import pytest

from nexla_procurify.credential import ALLOW_LOOPBACK_ENV

HOST_SUITE = f"""
import os
import sys

import pytest

from nexla_procurify import plugin
from nexla_procurify.host import Host


def test_loading_the_plugin_leaves_the_sandbox_unimported():
    assert "nexla_procurify.sandbox" not in sys.modules


def test_live_check_against_the_sandbox(procurify_credential):
    result = Host(plugins=[plugin]).validate_credential(
        "procurify", procurify_credential, live=True)
    assert result.ok, result.errors


def test_loopback_is_allowed_for_the_test_only():
    assert {ALLOW_LOOPBACK_ENV!r} not in os.environ


@pytest.mark.procurify_sandbox(records={{"vendors": 3}}, seed=1)
def test_the_marker_passes_sandbox_options(procurify_sandbox):
    assert os.environ[{ALLOW_LOOPBACK_ENV!r}] == "1"
    assert len(procurify_sandbox.records("vendors")) == 3
"""


def test_a_host_suite_runs_against_the_sandbox_by_entry_point(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    pytester.makepyfile(test_host=HOST_SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--strict-markers", "-W", "error"
    )
    result.assert_outcomes(passed=4)


def test_the_plugin_can_be_turned_off(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    pytester.makepyfile(test_host="def test_needs_it(procurify_sandbox):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:procurify_sandbox")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'procurify_sandbox' not found*"])
