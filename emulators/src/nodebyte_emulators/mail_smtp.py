"""The SMTP side of the mail sink (aiosmtpd): STARTTLS, optional AUTH, faults, recording."""

import asyncio
import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .mail_state import MailHub


def ensure_certificate(cert_path: str, key_path: str) -> None:
    """A self-signed certificate for localhost/127.0.0.1, made once and kept on disk."""
    if Path(cert_path).exists() and Path(key_path).exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nodebyte mail emulator")])
    now = dt.datetime.now(dt.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, False, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomically(key_path, key_pem)
    _write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _write_atomically(path: str, content: bytes) -> None:
    folder = Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=folder)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    os.replace(temporary, path)


def _parts(message: EmailMessage) -> tuple[str | None, str | None]:
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    return (
        html.get_content() if html is not None else None,
        text.get_content() if text is not None else None,
    )


class RecordingHandler:
    def __init__(self, hub: MailHub) -> None:
        self.hub = hub

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        faults = self.hub.mail_faults
        if faults.take("smtp_fail_next"):
            return f"{faults.smtp_fail_code} Requested action not taken (emulated fault)"
        raw = envelope.original_content or envelope.content or b""
        message = BytesParser(policy=policy.default).parsebytes(raw)
        html, text = _parts(message)  # type: ignore[arg-type]
        self.hub.record(
            "smtp",
            sender=envelope.mail_from,
            to=list(envelope.rcpt_tos),
            subject=str(message["Subject"] or ""),
            html=html,
            text=text,
            headers={k: str(v) for k, v in message.items()},
            message_id=str(message["Message-ID"] or "") or None,
            tls=session.ssl is not None,
            authenticated_as=_login(session),
        )
        return "250 Message accepted for delivery"


def _login(session: Session) -> str | None:
    data = session.auth_data
    if isinstance(data, LoginPassword):
        return data.login.decode(errors="replace")
    return None


def _authenticator(user: str, password: str):  # type: ignore[no-untyped-def]
    def check(server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


async def start_smtp(hub: MailHub) -> asyncio.Server:
    config = hub.config
    context = None
    if config.tls_cert and config.tls_key:
        ensure_certificate(config.tls_cert, config.tls_key)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config.tls_cert, config.tls_key)
    auth = config.smtp_user is not None and config.smtp_password is not None
    handler = RecordingHandler(hub)

    def protocol() -> SMTP:
        return SMTP(
            handler,
            hostname="mail.emulator.local",
            tls_context=context,
            require_starttls=config.require_starttls and context is not None,
            auth_required=auth,
            auth_require_tls=context is not None,
            authenticator=_authenticator(config.smtp_user or "", config.smtp_password or "")
            if auth
            else None,
        )

    loop = asyncio.get_running_loop()
    return await loop.create_server(protocol, config.smtp_host, config.smtp_port)
