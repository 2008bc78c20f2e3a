from __future__ import annotations

from nexla_procurify import plugin
from nexla_procurify.host import Host
from nexla_procurify.sandbox import Sandbox


def test_live_validation_against_the_sandbox(sandbox: Sandbox) -> None:
    host = Host(plugins=[plugin])
    result = host.validate_credential("procurify", sandbox.credential(), live=True)
    assert result.ok, result.errors
