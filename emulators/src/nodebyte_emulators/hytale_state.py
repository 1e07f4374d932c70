"""State of the Hytale emulator: accounts, device grants, rotating refresh tokens, game sessions.

The OAuth server behaves as Ory Hydra (RFC 6749/8628 errors, refresh tokens that
rotate, and a reused refresh token revoking its whole chain); the session service
signs EdDSA tokens and counts concurrent sessions per account against a limit. A
session refresh starts a successor session; the superseded one lingers (and counts)
until it expires or is deleted with its token, so a client must give it back.
"""

import dataclasses
import secrets
import string
import time
import uuid
from dataclasses import dataclass, field

from .faults import Faults
from .hytale_signing import AccessTokenSigner, SessionKeyring
from .stats import RequestStats

USER_CODE_ALPHABET = string.ascii_letters + string.digits
UNLIMITED_ENTITLEMENT = "sessions.unlimited_servers"


@dataclass
class HytaleConfig:
    """Behaviour knobs; those after `client_id` change at run time (`/_emulator/settings`)."""

    issuer: str = "https://sessions.hytale.com"
    oauth_issuer: str = "https://oauth.accounts.hytale.com"
    audience: str = "hytale-server"
    client_id: str = "hytale-server"
    device_expires_in: int = 600
    interval: int = 5
    access_ttl: int = 3600
    refresh_ttl: int = 30 * 86_400
    session_ttl: int = 3600
    session_limit: int = 100
    reuse_revokes_chain: bool = True
    demo_accounts: int = 1


class OAuthError(Exception):
    """An RFC 6749 error answer: `{"error", "error_description"}`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


class SessionApiError(Exception):
    """An error of the account-data or session service: `{"error", "message"}`."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass
class Profile:
    uuid: str
    username: str


@dataclass
class Account:
    account_id: str
    username: str
    profiles: list[Profile]
    session_limit: int | None = None  # None: the configured default
    unlimited: bool = False


@dataclass
class DeviceGrant:
    device_code: str
    user_code: str
    expires_at: float
    interval: int
    status: str = "pending"  # pending, approved, denied, used
    account_id: str | None = None
    last_poll: float | None = None


@dataclass
class RefreshGrant:
    account_id: str
    chain: str
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class GameSession:
    session_id: str
    account_id: str
    profile_uuid: str
    expires_at: float
    ended: bool = False
    refreshes: int = 0  # refreshes of the chain that led to this session
    superseded_by: str | None = None  # the session a refresh started in its place
    deleted_at: float | None = None  # when its holder ended it (DELETE /game-session)

    def active(self, now: float) -> bool:
        return not self.ended and self.expires_at > now


@dataclass
class InjectedError:
    route: str
    status: int
    error: str
    remaining: int


@dataclass
class World:
    config: HytaleConfig
    defaults: HytaleConfig = field(init=False)
    keyring: SessionKeyring = field(default_factory=SessionKeyring)
    faults: Faults = field(default_factory=Faults)
    stats: RequestStats = field(default_factory=RequestStats)
    accounts: dict[str, Account] = field(default_factory=dict)
    devices: dict[str, DeviceGrant] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshGrant] = field(default_factory=dict)
    access_chains: dict[str, str] = field(default_factory=dict)  # access jti -> chain
    last_access: dict[str, str] = field(default_factory=dict)  # account -> newest access token
    revoked_chains: set[str] = field(default_factory=set)
    sessions: dict[str, GameSession] = field(default_factory=dict)
    session_of_jti: dict[str, str] = field(default_factory=dict)
    injected: list[InjectedError] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.defaults = dataclasses.replace(self.config)
        self.signer = AccessTokenSigner(self.config.oauth_issuer)
        for n in range(1, self.config.demo_accounts + 1):
            self.add_account(f"demo-{n}", profiles=2)

    # --- accounts ------------------------------------------------------------

    def add_account(
        self, username: str | None = None, profiles: int = 1, session_limit: int | None = None
    ) -> Account:
        name = username or "player-" + secrets.token_hex(3)
        made = [Profile(str(uuid.uuid4()), f"{name}_{i}") for i in range(1, profiles + 1)]
        account = Account(str(uuid.uuid4()), name, made, session_limit)
        self.accounts[account.account_id] = account
        return account

    def limit_of(self, account: Account) -> int | None:
        if account.unlimited:
            return None
        return self.config.session_limit if account.session_limit is None else account.session_limit

    def active_sessions(self, account_id: str) -> list[GameSession]:
        now = time.time()
        return [s for s in self.sessions.values() if s.account_id == account_id and s.active(now)]

    def valid_refresh_tokens(self, account_id: str) -> list[str]:
        now = time.time()
        return [
            token
            for token, grant in self.refresh_tokens.items()
            if grant.account_id == account_id
            and not grant.used
            and grant.chain not in self.revoked_chains
            and grant.expires_at > now
        ]

    def revoke_account(self, account_id: str) -> None:
        for grant in self.refresh_tokens.values():
            if grant.account_id == account_id:
                self.revoked_chains.add(grant.chain)

    # --- device authorization ------------------------------------------------

    def new_device_grant(self) -> DeviceGrant:
        code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
        grant = DeviceGrant(
            device_code=secrets.token_urlsafe(32),
            user_code=code,
            expires_at=time.time() + self.config.device_expires_in,
            interval=self.config.interval,
        )
        self.devices[grant.device_code] = grant
        return grant

    def by_user_code(self, user_code: str) -> DeviceGrant | None:
        return next((g for g in self.devices.values() if g.user_code == user_code), None)

    def poll(self, device_code: str) -> dict:
        grant = self.devices.get(device_code)
        now = time.time()
        if grant is None or grant.status == "used":
            raise OAuthError("invalid_grant", "The device code is invalid or was already used.")
        if now >= grant.expires_at:
            raise OAuthError("expired_token", "The device code has expired.")
        too_soon = grant.last_poll is not None and now - grant.last_poll < 0.8 * grant.interval
        grant.last_poll = now
        if grant.status == "denied":
            raise OAuthError("access_denied", "The resource owner denied the request.")
        if too_soon:
            grant.interval += 5
            raise OAuthError("slow_down", "The client is polling too quickly.")
        if grant.status == "pending":
            raise OAuthError("authorization_pending", "The user has not yet authorized.")
        grant.status = "used"
        assert grant.account_id is not None
        return self._grant(grant.account_id, "openid offline auth:server", uuid.uuid4().hex)

    # --- tokens ----------------------------------------------------------------

    def _grant(self, account_id: str, scope: str, chain: str) -> dict:
        config = self.config
        access, jti = self.signer.issue(account_id, config.client_id, scope, config.access_ttl)
        self.access_chains[jti] = chain
        self.last_access[account_id] = access
        refresh = "ory_rt_" + secrets.token_urlsafe(32)
        self.refresh_tokens[refresh] = RefreshGrant(
            account_id, chain, scope, time.time() + config.refresh_ttl
        )
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": config.access_ttl,
            "refresh_token": refresh,
            "scope": scope,
        }

    def refresh(self, refresh_token: str) -> dict:
        grant = self.refresh_tokens.get(refresh_token)
        if grant is None or grant.chain in self.revoked_chains or grant.expires_at <= time.time():
            raise OAuthError("invalid_grant", "The refresh token is malformed, revoked or expired.")
        if grant.used:
            # Reuse of a rotated token: Hydra treats it as theft and revokes the chain.
            if self.config.reuse_revokes_chain:
                self.revoked_chains.add(grant.chain)
            raise OAuthError("invalid_grant", "The refresh token was already used.")
        grant.used = True
        return self._grant(grant.account_id, grant.scope, grant.chain)

    def account_of_access(self, token: str | None) -> Account:
        claims = self.signer.claims(token) if token else None
        if claims is None or self.access_chains.get(claims["jti"]) in self.revoked_chains:
            raise SessionApiError(401, "unauthorized", "The access token is invalid or expired.")
        account = self.accounts.get(claims["sub"])
        if account is None:
            raise SessionApiError(401, "unauthorized", "The account no longer exists.")
        return account

    # --- game sessions -----------------------------------------------------------

    def new_session(self, account: Account, profile_uuid: str) -> dict:
        profile = next((p for p in account.profiles if p.uuid == profile_uuid), None)
        if profile is None:
            raise SessionApiError(404, "profile_not_found", "No such profile on this account.")
        limit = self.limit_of(account)
        if limit is not None and len(self.active_sessions(account.account_id)) >= limit:
            raise SessionApiError(
                403,
                "session_limit_reached",
                f"The account has reached its limit of {limit} concurrent sessions.",
            )
        session = GameSession(str(uuid.uuid4()), account.account_id, profile_uuid, 0.0)
        self.sessions[session.session_id] = session
        return self._session_tokens(session, account, profile)

    def _session_tokens(self, session: GameSession, account: Account, profile: Profile) -> dict:
        now = int(time.time())
        session.expires_at = now + self.config.session_ttl
        base = {
            "iss": self.config.issuer,
            "aud": self.config.audience,
            "sub": profile.uuid,
            "iat": now,
            "exp": int(session.expires_at),
            "scope": "hytale:server",
        }
        entitlements = ["game.base"] + ([UNLIMITED_ENTITLEMENT] if account.unlimited else [])
        session_jti, identity_jti = secrets.token_hex(12), secrets.token_hex(12)
        self.session_of_jti[session_jti] = session.session_id
        identity = {
            **base,
            "jti": identity_jti,
            "profile": {"username": profile.username, "entitlements": entitlements, "skin": "{}"},
        }
        return {
            "sessionToken": self.keyring.sign({**base, "jti": session_jti}),
            "identityToken": self.keyring.sign(identity),
            "expiresAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(session.expires_at)),
        }

    def session_of(self, token: str | None) -> GameSession:
        claims = self.keyring.verify(token, self.config.issuer) if token else None
        session_id = self.session_of_jti.get(claims["jti"]) if claims else None
        if session_id is None:
            raise SessionApiError(401, "unauthorized", "The session token is invalid or expired.")
        session = self.sessions[session_id]
        if not session.active(time.time()):
            raise SessionApiError(404, "session_not_found", "The session has ended.")
        return session

    def refresh_session(self, token: str | None) -> dict:
        """A successor session with fresh tokens. The superseded one is not ended: it
        stays open, counting against the account's limit, until it expires or its
        holder deletes it with its own token."""
        old = self.session_of(token)
        account = self.accounts[old.account_id]
        profile = next(p for p in account.profiles if p.uuid == old.profile_uuid)
        successor = GameSession(
            str(uuid.uuid4()), old.account_id, old.profile_uuid, 0.0, refreshes=old.refreshes + 1
        )
        self.sessions[successor.session_id] = successor
        old.superseded_by = successor.session_id
        return self._session_tokens(successor, account, profile)

    def end_session(self, token: str | None) -> None:
        session = self.session_of(token)
        session.ended, session.deleted_at = True, time.time()

    # --- injected errors -----------------------------------------------------------

    def take_injected(self, route: str) -> InjectedError | None:
        for entry in self.injected:
            if entry.route == route and entry.remaining > 0:
                entry.remaining -= 1
                return entry
        return None
