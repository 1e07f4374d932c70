"""hytale-auth's Prometheus metrics (beside the common `nodebyte_*` ones)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

TOKEN_VALIDATIONS = Counter(
    "nodebyte_hytale_token_validations_total",
    "Session and identity token validations (outcome: valid, cached, or the refusal reason)",
    ["kind", "outcome"],
)
JWKS_FETCHES = Counter(
    "nodebyte_hytale_jwks_fetches_total", "JWKS fetches (reason, outcome)", ["reason", "outcome"]
)
REFRESHES = Counter(
    "nodebyte_hytale_refreshes_total",
    "OAuth token and game session refreshes (what: token|session)",
    ["what", "outcome"],
)
# Created at 0 so the refresh-failure alert sees the first failure after a start.
for _what, _outcomes in (("token", ("ok", "failed")), ("session", ("ok", "failed", "lost"))):
    for _outcome in _outcomes:
        REFRESHES.labels(_what, _outcome)
PANEL_PUSHES = Counter(
    "nodebyte_hytale_panel_pushes_total",
    "Session pushes to panel servers (via: client|application)",
    ["via", "outcome"],
)
ACCOUNT_SESSIONS = Gauge(
    "nodebyte_hytale_account_sessions", "Active game sessions per pool account", ["account_id"]
)
ACCOUNT_SESSION_LIMIT = Gauge(
    "nodebyte_hytale_account_session_limit", "Concurrent session limit per account", ["account_id"]
)
POOL_FREE_SESSIONS = Gauge(
    "nodebyte_hytale_pool_free_sessions", "Free session slots over usable pool accounts"
)
AUDIT_DROPPED = Counter(
    "nodebyte_hytale_audit_dropped_total", "Audit entries dropped because the queue was full"
)
SERVER_LOG_LINES = Counter(
    "nodebyte_hytale_server_log_lines_total", "Console lines stored from game servers"
)
