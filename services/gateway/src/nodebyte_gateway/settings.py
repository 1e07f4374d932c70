from __future__ import annotations

import msgspec

from nodebyte_common.settings import CommonSettings


class GatewaySettings(CommonSettings, kw_only=True, frozen=True):
    port: int = msgspec.field(default=8080, name="backend_port")
    # The frontend server's key (the reference's BACKEND_API_KEY): it queues and
    # follows syncs and reads stats, nothing more. Admin keys are minted with
    # `nodebyte api-keys create` (scoped, revocable, stored hashed).
    backend_api_key: str = ""
    sync_url: str = "http://127.0.0.1:8081"
    hytale_auth_url: str = "http://127.0.0.1:8082"
    notifier_url: str = "http://127.0.0.1:8083"
    scheduler_url: str = "http://127.0.0.1:8084"
    node_agent_gateway_url: str = "http://127.0.0.1:8085"
    # Where clients reach this gateway: a node's `deployUrl` points here.
    api_public_url: str = "http://127.0.0.1:8080"
    # Where node agents connect (the node-agent-gateway's WebSocket, as agents reach it):
    # written into the deploy script of `GET /api/deploy/{token}`.
    agent_public_url: str = "ws://127.0.0.1:8085/ws"
    internal_timeout_seconds: float = 5.0
    request_timeout_seconds: float = 30.0
    # Text read or written whole through /files/content (larger: 413, use upload/download).
    file_content_max_bytes: int = 524_288
    # One uploaded file at most (the reference's 100 MB); beyond it 413, nothing kept.
    file_upload_max_bytes: int = 104_857_600
    # Proxies whose X-Forwarded-For is believed (CIDRs, comma-separated).
    trusted_proxies: str = ""
    # Per route class, over the defaults: "sync=20/60,default=300/60" (requests/seconds).
    rate_limits: str = ""
    # Ed25519 private key (PKCS#8 PEM; "\n" escapes accepted) signing access tokens:
    # openssl genpkey -algorithm ed25519
    jwt_private_key: str
    # Public PEMs of retired signing keys, still verified during a rotation.
    jwt_previous_public_keys: str = ""
    jwt_issuer: str = "nodebyte"
    jwt_audience: str = "nodebyte-api"
    # Access JWT lifetime.
    access_token_ttl_seconds: int = 900
    # Refresh tokens rotate at each use; unused ones lapse after this.
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # How long a WebSocket/stream ticket (POST /api/v1/ws-ticket) may wait for its one use.
    ws_ticket_ttl_seconds: int = 30
    # The frontend that serves the pages email links point at.
    app_url: str = "http://localhost:3000"
    # argon2id parameters of new password hashes (OWASP baseline).
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456
    argon2_parallelism: int = 1
