"""Password hashing: argon2id for new hashes; bcrypt hashes of migrated users accepted.

A bcrypt hash (`$2a$`, `$2b$`, `$2y$`, as the Go backend and the frontend wrote
them) verifies once and is replaced by an argon2id hash at that login, as is an
argon2 hash made with other parameters than today's. Hashing is CPU-bound for
tens of milliseconds, so the async entry points run it in a worker thread.
Defaults are OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT_MAX_BYTES = 72  # bcrypt never hashed more; bcrypt>=5 refuses longer input
MIN_LENGTH = 8
MAX_LENGTH = 256


@dataclass(frozen=True)
class Verdict:
    ok: bool
    needs_rehash: bool = False


class Passwords:
    def __init__(self, *, time_cost: int = 2, memory_kib: int = 19456, parallelism: int = 1):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Verified against when an account does not exist, so both paths cost the same.
        self._dummy_hash = self._hasher.hash("no such account; this only equalises timing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, candidate: str) -> Verdict:
        if not stored_hash:
            self._argon2_matches(self._dummy_hash, candidate)
            return Verdict(False)
        if stored_hash.startswith(_BCRYPT_PREFIXES):
            return Verdict(_bcrypt_matches(stored_hash, candidate), needs_rehash=True)
        if not self._argon2_matches(stored_hash, candidate):
            return Verdict(False)
        return Verdict(True, needs_rehash=self._hasher.check_needs_rehash(stored_hash))

    def _argon2_matches(self, stored_hash: str, candidate: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, candidate)
        except (VerificationError, InvalidHashError):
            return False

    async def hash_async(self, password: str) -> str:
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, stored_hash: str | None, candidate: str) -> Verdict:
        """Verify; with no stored hash, spend the same time and answer no."""
        return await asyncio.to_thread(self.verify, stored_hash, candidate)


def _bcrypt_matches(stored_hash: str, candidate: str) -> bool:
    raw = candidate.encode()
    if len(raw) > _BCRYPT_MAX_BYTES:
        return False  # no stored bcrypt hash can be of it
    try:
        return bcrypt.checkpw(raw, stored_hash.encode())
    except ValueError:
        return False  # a malformed stored hash


def weakness(password: str) -> str | None:
    """Why a new password is refused, or None: 8+ characters, upper, lower and digit."""
    if len(password) < MIN_LENGTH:
        return f"The password must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"The password must be at most {MAX_LENGTH} characters long"
    if not any(c.isupper() for c in password):
        return "The password needs an uppercase letter"
    if not any(c.islower() for c in password):
        return "The password needs a lowercase letter"
    if not any(c.isdigit() for c in password):
        return "The password needs a digit"
    return None
