"""Admin users and roles, API keys and the audit log, with permissions enforced."""

from __future__ import annotations

import httpx

from nodebyte_devstack.accounts import SignedInUser, new_email, new_password


async def test_list_users_with_stats_paging_filter_sort_search(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser, user_factory
) -> None:
    marker = new_email("zz-find-me").split("@")[0]
    created = [await user_factory(email=f"{marker}-{i}@example.test") for i in range(3)]
    response = await anonymous.get(
        "/api/admin/users",
        params={"search": marker, "pageSize": 2, "sortField": "email", "sortOrder": "asc"},
        headers=admin_user.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    emails = [u["email"] for u in body["data"]["users"]]
    assert emails == sorted(u.email for u in created)[:2]
    assert body["pagination"] == {"page": 1, "pageSize": 2, "total": 3, "totalPages": 2}
    stats = body["data"]["stats"]
    assert set(stats) == {"totalUsers", "migratedUsers", "adminCount", "activeCount"}
    assert stats["totalUsers"] >= 4
    assert stats["adminCount"] >= 1
    page2 = await anonymous.get(
        "/api/admin/users",
        params={
            "search": marker,
            "pageSize": 2,
            "page": 2,
            "sortField": "email",
            "sortOrder": "asc",
        },
        headers=admin_user.headers,
    )
    assert [u["email"] for u in page2.json()["data"]["users"]] == [
        sorted(u.email for u in created)[2]
    ]
    admins = await anonymous.get(
        "/api/admin/users", params={"filter": "admin", "pageSize": 100}, headers=admin_user.headers
    )
    listed = admins.json()["data"]["users"]
    assert admin_user.email in {u["email"] for u in listed}
    # Admins by role, and the panel's admins (their accounts come from the sync).
    assert all(
        set(u["roles"]) & {"SUPER_ADMIN", "ADMINISTRATOR"} or u["isPterodactylAdmin"]
        for u in listed
    )
    row = next(u for u in listed if u["email"] == admin_user.email)
    assert row["isSystemAdmin"] is True
    assert row["sessionCount"] >= 1


async def test_list_users_refuses_bad_parameters(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser
) -> None:
    for params in (
        {"sortField": "password_hash"},
        {"sortOrder": "sideways"},
        {"filter": "everyone"},
        {"page": 0},
        {"pageSize": 1000},
        {"page": "one"},
        {"search": "x" * 500},
    ):
        response = await anonymous.get(
            "/api/admin/users", params=params, headers=admin_user.headers
        )
        assert response.status_code == 400, (params, response.text)


async def test_search_treats_wildcards_literally(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser
) -> None:
    response = await anonymous.get(
        "/api/admin/users", params={"search": "%_%"}, headers=admin_user.headers
    )
    assert response.status_code == 200
    assert response.json()["pagination"]["total"] == 0


async def test_roles_catalogue_and_assignment_audited(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser, member_user: SignedInUser
) -> None:
    catalogue = await anonymous.get("/api/admin/users/roles", headers=admin_user.headers)
    roles = {r["name"]: r for r in catalogue.json()["data"]}
    assert roles["SUPER_ADMIN"]["permissions"] == ["*"]
    assert "MEMBER" in roles
    response = await anonymous.post(
        "/api/admin/users/roles",
        json={"userId": member_user.id, "roles": ["SUPPORT_TEAM", "MEMBER", "MEMBER"]},
        headers=admin_user.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        "userId": member_user.id,
        "roles": ["MEMBER", "SUPPORT_TEAM"],
        "isSystemAdmin": False,
    }
    # the new roles apply from the next token: refresh, then read users
    refreshed = await anonymous.post(
        "/api/v1/auth/refresh", json={"refreshToken": member_user.refresh_token}
    )
    token = refreshed.json()["data"]["accessToken"]
    allowed = await anonymous.get("/api/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200
    audit = await anonymous.get(
        "/api/admin/audit-logs",
        params={"action": "user.roles_updated", "targetId": member_user.id},
        headers=admin_user.headers,
    )
    (entry,) = audit.json()["data"]
    assert entry["actor"] == {"type": "user", "id": admin_user.id, "label": admin_user.email}
    assert entry["before"] == {"roles": ["MEMBER"]}
    assert entry["after"] == {"roles": ["MEMBER", "SUPPORT_TEAM"]}
    assert entry["ipAddress"]
    assert entry["occurredAt"].endswith("Z")


async def test_role_assignment_errors(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser, user_factory
) -> None:
    administrator = await user_factory(["ADMINISTRATOR"])
    target = await user_factory()
    unknown_role = await anonymous.post(
        "/api/admin/users/roles",
        json={"userId": target.id, "roles": ["OVERLORD"]},
        headers=admin_user.headers,
    )
    assert unknown_role.status_code == 400
    assert unknown_role.json()["code"] == "INVALID_ROLE"
    no_user = await anonymous.post(
        "/api/admin/users/roles",
        json={"userId": "0190aaaa-0000-7000-8000-000000000000", "roles": ["MEMBER"]},
        headers=admin_user.headers,
    )
    assert no_user.status_code == 404
    # an ADMINISTRATOR (admin.*, not *) may not make anyone SUPER_ADMIN
    escalate = await anonymous.post(
        "/api/admin/users/roles",
        json={"userId": target.id, "roles": ["SUPER_ADMIN"]},
        headers=administrator.headers,
    )
    assert escalate.status_code == 403
    self_escalate = await anonymous.post(
        "/api/admin/users/roles",
        json={"userId": administrator.id, "roles": ["SUPER_ADMIN"]},
        headers=administrator.headers,
    )
    assert self_escalate.status_code == 403
    # nor unmake one
    demote = await anonymous.post(
        "/api/admin/users/roles",
        json={"userId": admin_user.id, "roles": ["MEMBER"]},
        headers=administrator.headers,
    )
    assert demote.status_code == 403
    # a member may not touch roles at all
    member = await anonymous.post(
        "/api/admin/users/roles",
        json={"userId": target.id, "roles": ["MEMBER"]},
        headers=target.headers,
    )
    assert member.status_code == 403


async def test_admin_creates_a_user(anonymous: httpx.AsyncClient, admin_user: SignedInUser) -> None:
    email, password = new_email("made"), new_password()
    response = await anonymous.post(
        "/api/admin/users",
        json={"email": email, "password": password, "roles": ["TECH_TEAM"], "firstName": "Tim"},
        headers=admin_user.headers,
    )
    assert response.status_code == 201, response.text
    user = response.json()["data"]["user"]
    assert user["roles"] == ["TECH_TEAM"]
    assert user["emailVerified"] is True
    login = await anonymous.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200
    assert "sync.*" in login.json()["data"]["user"]["permissions"]
    duplicate = await anonymous.post(
        "/api/admin/users", json={"email": email.upper()}, headers=admin_user.headers
    )
    assert duplicate.status_code == 409


async def test_api_keys_create_use_list_revoke(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser, stack
) -> None:
    created = await anonymous.post(
        "/api/admin/api-keys",
        json={"name": "ci", "scopes": ["sync.write", "sync.write"], "expiresInDays": 30},
        headers=admin_user.headers,
    )
    assert created.status_code == 201, created.text
    key = created.json()["data"]
    assert key["key"].startswith("nbk_")
    assert key["scopes"] == ["sync.write"]
    assert key["key"].startswith(key["prefix"])
    assert key["expiresAt"]

    sync = await anonymous.post(
        "/api/v1/sync/locations", json={}, headers={"X-API-Key": key["key"]}
    )
    assert sync.status_code == 202
    by_query = await anonymous.post(
        "/api/v1/sync/locations", params={"api_key": key["key"]}, json={}
    )
    assert by_query.status_code == 202
    not_admin = await anonymous.get("/api/admin/api-keys", headers={"X-API-Key": key["key"]})
    assert not_admin.status_code == 403

    listed = await anonymous.get("/api/admin/api-keys", headers=admin_user.headers)
    row = next(k for k in listed.json()["data"] if k["id"] == key["id"])
    assert "key" not in row
    assert row["lastUsedAt"]
    assert key["key"] not in listed.text

    revoked = await anonymous.delete(f"/api/admin/api-keys/{key['id']}", headers=admin_user.headers)
    assert revoked.status_code == 200
    assert revoked.json()["data"]["revokedAt"]
    refused = await anonymous.post(
        "/api/v1/sync/locations", json={}, headers={"X-API-Key": key["key"]}
    )
    assert refused.status_code == 401
    assert refused.json()["code"] == "INVALID_API_KEY"
    again = await anonymous.delete(f"/api/admin/api-keys/{key['id']}", headers=admin_user.headers)
    assert again.status_code == 409
    missing = await anonymous.delete(
        "/api/admin/api-keys/0190aaaa-0000-7000-8000-000000000000", headers=admin_user.headers
    )
    assert missing.status_code == 404
    hidden = await anonymous.get("/api/admin/api-keys", headers=admin_user.headers)
    assert key["id"] not in {k["id"] for k in hidden.json()["data"]}
    shown = await anonymous.get(
        "/api/admin/api-keys", params={"includeRevoked": "true"}, headers=admin_user.headers
    )
    assert key["id"] in {k["id"] for k in shown.json()["data"]}

    audit = await anonymous.get(
        "/api/admin/audit-logs",
        params={"targetType": "api_key", "targetId": key["id"]},
        headers=admin_user.headers,
    )
    actions = [e["action"] for e in audit.json()["data"]]
    assert actions == ["api_key.revoked", "api_key.created"]
    assert key["key"] not in audit.text


async def test_api_key_scopes_cannot_exceed_the_creator(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser, user_factory
) -> None:
    administrator = await user_factory(["ADMINISTRATOR"])
    wildcard = await anonymous.post(
        "/api/admin/api-keys", json={"name": "x", "scopes": ["*"]}, headers=administrator.headers
    )
    assert wildcard.status_code == 403
    allowed = await anonymous.post(
        "/api/admin/api-keys",
        json={"name": "x", "scopes": ["admin.write", "sync.*"]},
        headers=administrator.headers,
    )
    assert allowed.status_code == 201
    # that key holds admin.write but not *: it cannot mint a * key either
    key = allowed.json()["data"]["key"]
    minted = await anonymous.post(
        "/api/admin/api-keys", json={"name": "y", "scopes": ["*"]}, headers={"X-API-Key": key}
    )
    assert minted.status_code == 403
    for scopes in ([], ["Not A Scope"], ["admin.*.read"]):
        bad = await anonymous.post(
            "/api/admin/api-keys", json={"name": "z", "scopes": scopes}, headers=admin_user.headers
        )
        assert bad.status_code == 400, scopes


async def test_expired_api_key_is_refused(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser, admin_conn
) -> None:
    created = await anonymous.post(
        "/api/admin/api-keys",
        json={"name": "short", "scopes": ["sync.write"]},
        headers=admin_user.headers,
    )
    key = created.json()["data"]
    await admin_conn.execute(
        "UPDATE gateway.api_keys SET expires_at = now() - interval '1 second' WHERE id = $1::uuid",
        key["id"],
    )
    response = await anonymous.post(
        "/api/v1/sync/locations", json={}, headers={"X-API-Key": key["key"]}
    )
    assert response.status_code == 401


async def test_audit_log_filters_and_paging(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser
) -> None:
    for i in range(3):
        await anonymous.post(
            "/api/admin/api-keys",
            json={"name": f"audit-{i}", "scopes": ["sync.write"]},
            headers=admin_user.headers,
        )
    page = await anonymous.get(
        "/api/admin/audit-logs",
        params={"actorId": admin_user.id, "action": "api_key.*", "limit": 2},
        headers=admin_user.headers,
    )
    assert page.status_code == 200
    body = page.json()
    assert len(body["data"]) == 2
    assert body["pagination"] == {"page": 1, "limit": 2, "total": 3, "pages": 2}
    assert all(e["actor"]["id"] == admin_user.id for e in body["data"])
    alias = await anonymous.get(
        "/api/admin/audit-logs", params={"userId": admin_user.id}, headers=admin_user.headers
    )
    assert alias.json()["pagination"]["total"] == 3
    window = await anonymous.get(
        "/api/admin/audit-logs",
        params={"actorId": admin_user.id, "since": "2999-01-01T00:00:00Z"},
        headers=admin_user.headers,
    )
    assert window.json()["data"] == []
    for params in ({"limit": 0}, {"limit": 1000}, {"since": "yesterday"}, {"page": -1}):
        bad = await anonymous.get(
            "/api/admin/audit-logs", params=params, headers=admin_user.headers
        )
        assert bad.status_code == 400, params


async def test_check_email_and_user_by_id_need_users_read(
    gateway: httpx.AsyncClient, anonymous: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    exists = await gateway.get("/api/v1/auth/check-email", params={"email": member_user.email})
    assert exists.json()["data"]["exists"] is True
    absent = await gateway.get("/api/v1/auth/check-email", params={"email": new_email()})
    assert absent.json()["data"]["exists"] is False
    assert (await gateway.get("/api/v1/auth/check-email", params={"email": "x"})).status_code == 400
    assert (
        await anonymous.get("/api/v1/auth/check-email", params={"email": member_user.email})
    ).status_code == 401
    assert (
        await anonymous.get(
            "/api/v1/auth/check-email",
            params={"email": member_user.email},
            headers=member_user.headers,
        )
    ).status_code == 403
    found = await gateway.get(f"/api/v1/auth/users/{member_user.id}")
    assert found.status_code == 200
    assert found.json()["data"]["user"]["email"] == member_user.email
    assert "password" not in found.text.lower()
    assert (
        await gateway.get("/api/v1/auth/users/0190aaaa-0000-7000-8000-000000000000")
    ).status_code == 404
    assert (await anonymous.get(f"/api/v1/auth/users/{member_user.id}")).status_code == 401
