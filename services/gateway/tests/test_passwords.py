from __future__ import annotations

import bcrypt
import pytest

from nodebyte_gateway.accounts.passwords import Passwords, weakness

# Cheap parameters: these tests are about behaviour, not cost.
FAST = Passwords(time_cost=1, memory_kib=1024, parallelism=1)


def test_argon2id_round_trip() -> None:
    stored = FAST.hash("Secret123")
    assert stored.startswith("$argon2id$")
    assert FAST.verify(stored, "Secret123").ok
    assert not FAST.verify(stored, "Secret124").ok
    assert not FAST.verify(stored, "Secret123").needs_rehash


def test_other_parameters_ask_for_a_rehash() -> None:
    stronger = Passwords(time_cost=2, memory_kib=2048, parallelism=1)
    stored = FAST.hash("Secret123")
    verdict = stronger.verify(stored, "Secret123")
    assert verdict.ok
    assert verdict.needs_rehash


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_hashes_of_migrated_users_verify_and_ask_for_an_upgrade(prefix: str) -> None:
    stored = prefix + bcrypt.hashpw(b"Secret123", bcrypt.gensalt(4)).decode()[4:]
    verdict = FAST.verify(stored, "Secret123")
    assert verdict.ok
    assert verdict.needs_rehash
    assert not FAST.verify(stored, "secret123").ok


def test_bcrypt_refuses_what_it_could_never_have_hashed() -> None:
    stored = bcrypt.hashpw(b"A" * 72, bcrypt.gensalt(4)).decode()
    assert FAST.verify(stored, "A" * 72).ok
    assert not FAST.verify(stored, "A" * 73).ok  # bcrypt would have truncated; we refuse


@pytest.mark.parametrize("stored", [None, "", "garbage", "$2b$garbage", "$argon2id$garbage"])
def test_missing_or_malformed_hashes_never_verify(stored: str | None) -> None:
    assert not FAST.verify(stored, "Secret123").ok


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Secret123", None),
        ("Sec1", "at least 8"),
        ("secret123", "uppercase"),
        ("SECRET123", "lowercase"),
        ("SecretSecret", "digit"),
        ("Aa1" + "x" * 300, "at most"),
    ],
)
def test_weakness(password: str, problem: str | None) -> None:
    found = weakness(password)
    assert (found is None) if problem is None else (problem in (found or ""))
