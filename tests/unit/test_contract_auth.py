"""The token exchange and the live check, checked against Procurify's contract."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests_mock as rm
from shared import BASE

from nexla_procurify import plugin
from nexla_procurify.sandbox.contract import contract

CREDENTIAL = {
    "name": "test",
    "client_id": "client-id-123",
    "client_secret": "zq9SecretValue0000aaaa",
    "base_url": BASE,
}


def test_live_check_sends_only_what_the_contract_documents() -> None:
    c = contract()
    me = c.operation("GET", "/api/v3/users/me")
    token = c.operation("POST", "/oauth/token")
    with rm.Mocker() as mock:
        # Procurify's user documentation names /api/v3/oauth/token, its SDK /oauth/token:
        # the connector tries the first and falls back to the second on 404.
        mock.post(BASE + "/api/v3/oauth/token", status_code=404, json={"detail": "Not found."})
        mock.post(
            BASE + "/oauth/token",
            json={
                "access_token": "tok-1",
                "token_type": "Bearer",
                "expires_in": 86400,
                "scope": "urn:procurify-api:domain:acme",
            },
        )
        mock.get(BASE + "/api/v3/users/me", json={"data": {"id": 1}, "metadata": {}})
        result = plugin.validate_credential(
            connector_type="procurify", credential=dict(CREDENTIAL), live=True
        )
        assert result is not None
        assert result.ok, result.errors
        sent = mock.request_history
    exchanges = [r for r in sent if r.method == "POST"]
    assert [urlsplit(r.url).path for r in exchanges] == ["/api/v3/oauth/token", "/oauth/token"]
    for request in exchanges:
        body = request.json()
        assert c.body_errors(token, body) == []
        assert c.undeclared(token.request_body or {}, body) == []
        assert body["grant_type"] == "client_credentials"
    (call,) = [r for r in sent if r.method == "GET"]
    found = c.find("GET", urlsplit(call.url).path)
    assert found is not None
    assert found[0] == me
    assert c.query_problems(me, parse_qs(urlsplit(call.url).query)) == {}
    assert call.headers["Authorization"] == "Bearer tok-1"
