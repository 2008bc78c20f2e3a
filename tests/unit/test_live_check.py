"""The live credential check says which field is at fault."""

from __future__ import annotations

import requests_mock
from shared import BASE

from nexla_procurify import auth
from nexla_procurify.credential import Credential, Secret


def test_live_check_blames_the_base_url_when_the_token_request_is_redirected_away(
    requests_mock: requests_mock.Mocker,
) -> None:
    requests_mock.post(
        f"{BASE}/api/v3/oauth/token",
        status_code=302,
        headers={"Location": "https://login.elsewhere.example/token"},
    )
    credential = Credential("test", "client", Secret("s3cret-value"), BASE)
    result = auth.check_connection(credential)
    assert [error.field for error in result.errors] == ["base_url"]
    assert [call.url for call in requests_mock.request_history] == [f"{BASE}/api/v3/oauth/token"]
