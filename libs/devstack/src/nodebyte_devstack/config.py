"""What a local stack is made of: its database, broker prefix, ports and secrets."""

from __future__ import annotations

import secrets
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nodebyte_common.bootstrap import service_dsn, with_database
from nodebyte_devstack.service_env import SERVICE_ENV, _no_env

SERVICES = ("gateway", "sync", "hytale-auth", "notifier", "scheduler", "node-agent-gateway")
EMULATORS = ("pterodactyl", "discord", "mail", "hytale")

DEFAULT_PORTS = {
    "gateway": 8080,
    "sync": 8081,
    "hytale-auth": 8082,
    "notifier": 8083,
    "scheduler": 8084,
    "node-agent-gateway": 8085,
    "sftp": 2022,  # the node-agent-gateway's SFTP listener, as the reference serves it
    "pterodactyl": 8090,
    "discord": 8091,
    "mail": 8092,  # the mail sink's HTTP side (Resend API, control)
    "mail-smtp": 8025,  # and its SMTP listener
    "hytale": 8093,
}

# Deterministic keys given to the panel emulator.
PANEL_APP_KEY = "ptla_" + "0" * 42 + "1"
PANEL_CLIENT_KEY = "ptlc_" + "0" * 42 + "1"
# Credentials of the mail sink (SMTP AUTH and the Resend API key it accepts).
MAIL_SMTP_USER = "nodebyte"
MAIL_SMTP_PASSWORD = "mail-dev-password"  # noqa: S105 - a local emulator's
MAIL_RESEND_KEY = "re_dev_" + "0" * 24


# Limits no test reaches unless it means to (the real ones are tested on stacks or
# replicas of their own): every class, the Hytale routes' included.
TEST_RATE_LIMITS = (
    "default=100000/60,public=100000/60,sync=100000/60,auth=100000/60,"
    "account=100000/60,mail=100000/60"
)
HYTALE_CLASSES = ("device-code", "token", "refresh", "profiles", "select-profile")
HYTALE_CLASSES += ("session-new", "session-refresh", "session-delete")
TEST_RATE_LIMITS += "".join(f",hytale-{name}=100000/60" for name in HYTALE_CLASSES)


def new_jwt_private_key() -> str:
    """A fresh Ed25519 key (PKCS#8 PEM) signing the gateway's access tokens."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def new_sftp_host_key() -> str:
    """A fresh Ed25519 SSH host key (OpenSSH PEM) for the node-agent-gateway's SFTP."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class StackConfig:
    admin_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database: str = "nodebyte"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    prefix: str = "nodebyte"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    service_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    api_key: str = field(default_factory=lambda: "nbk_dev_" + secrets.token_urlsafe(24))
    # BACKEND_API_KEY above only queues and follows syncs and reads stats; the
    # admin key (scope `*`) is minted with `nodebyte api-keys create` once the
    # gateway is up (`accounts.mint_admin_key`), as an operator would.
    admin_api_key: str = ""
    encryption_keys: str = field(default_factory=lambda: "dev:" + secrets.token_hex(32))
    jwt_private_key: str = field(default_factory=new_jwt_private_key)
    sftp_host_key: str = field(default_factory=new_sftp_host_key)
    panel_args: tuple[str, ...] = ()
    gateway_rate_limits: str = ""  # RATE_LIMITS of the gateway; the defaults when empty
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # The database through a transaction-pooling PgBouncer (nodebyte_devstack.pgbouncer):
    # the services connect through it when set, as production's do through its Pooler.
    pooler_dsn: str = ""
    # Variables left to the shell instead of the emulator wiring (real upstreams).
    from_shell: frozenset[str] = frozenset()

    @classmethod
    def isolated(cls, admin_dsn: str, amqp_url: str, tag: str | None = None) -> StackConfig:
        """A stack of its own: database, broker prefix and ports nobody else uses."""
        tag = tag or secrets.token_hex(4)
        return cls(
            admin_dsn=admin_dsn,
            database=f"nb_test_{tag}",
            amqp_url=amqp_url,
            prefix=f"nbtest.{tag}",
            ports={name: free_port() for name in DEFAULT_PORTS},
            # Tests drive the API hard from one address; the limits have their own tests.
            gateway_rate_limits=TEST_RATE_LIMITS,
        )

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def mail_tls_dir(self) -> Path:
        """Where the mail sink keeps its self-signed certificate (the notifier trusts it)."""
        return Path(tempfile.gettempdir()) / f"nodebyte-mail-{self.prefix}"

    @property
    def database_dsn(self) -> str:
        return with_database(self.admin_dsn, self.database)

    def service_env(self, service: str) -> dict[str, str]:
        """The environment a service runs with in this stack."""
        env = {
            "DATABASE_URL": service_dsn(self.pooler_dsn or self.database_dsn, service),
            "AMQP_URL": self.amqp_url,
            "AMQP_PREFIX": self.prefix,
            "SERVICE_TOKEN": self.service_token,
            "ENCRYPTION_KEYS": self.encryption_keys,
            "HOST": "127.0.0.1",
            "PORT": str(self.ports[service]),
        }
        if self.pooler_dsn:
            env["DB_STATEMENT_CACHE_SIZE"] = "0"
        env.update(SERVICE_ENV.get(service, _no_env)(self))
        env.update(self.extra_env.get(service, {}))
        for name in self.from_shell:
            env.pop(name, None)
        return env
