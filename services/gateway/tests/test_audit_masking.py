from __future__ import annotations

import uuid

from nodebyte_gateway.accounts.audit import masked


def test_secret_keys_are_masked_at_any_depth() -> None:
    key_id = uuid.uuid4()
    value = {
        "name": "ci",
        "password": "hunter2hunter2",
        "apiKey": "nbk_abcdefghijklmnop",
        "nested": {"webhookUrl": "https://discord.com/api/webhooks/1/secret", "count": 3},
        "items": [{"client_secret": "abcdefghijkl", "id": key_id}],
        "refreshToken": None,
        "tokenCount": 5,
    }
    out = masked(value)
    assert out["name"] == "ci"
    assert out["password"] == "••••ter2"
    assert "abcdefghij" not in out["apiKey"]
    assert out["nested"]["webhookUrl"].startswith("••••")
    assert out["nested"]["count"] == 3
    assert out["items"][0]["client_secret"].startswith("••••")
    assert out["items"][0]["id"] == str(key_id)
    assert out["refreshToken"] is None
    assert out["tokenCount"] == "••••"  # a number under a secret-looking key is masked too


def test_plain_values_pass_through() -> None:
    assert masked(None) is None
    assert masked({"roles": ["MEMBER"]}) == {"roles": ["MEMBER"]}
