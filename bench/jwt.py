"""Hytale session token validation: the service's validator against raw Ed25519 verification.

Tokens are real session tokens of the Hytale emulator (its Ed25519 key, its
JWKS served over HTTP and fetched once to warm the validator's cache). In the
same run, interleaved round by round so machine noise hits all alike:

- raw: `Ed25519PublicKey.verify` on pre-split signature and message bytes (the
  floor: no parsing, no claims);
- pyjwt: `jwt.decode` with issuer and audience checks (what a library costs);
- validator, distinct tokens: every token new (parse, claims, verify, cache insert);
- validator, a token seen before: answered by the cache of verified tokens.

The ratios to raw are the figures.

    .venv/bin/python bench/jwt.py [--tokens 3000] [--rounds 5] [--chunk 200]
"""

# ruff: noqa: E402 - the path fix below must run before pyjwt is imported
from __future__ import annotations

import sys
from pathlib import Path

# This file is named jwt.py: its own directory must not shadow the pyjwt package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import asyncio
import base64
import statistics
import time
import uuid

import httpx
import jwt

from nodebyte_emulators.hytale import HytaleConfig, create_hytale_app
from nodebyte_emulators.server import BackgroundServer
from nodebyte_hytale_auth.jwks import JwksCache, parse_jwks
from nodebyte_hytale_auth.session_tokens import TokenValidator

ISSUER = "https://sessions.hytale.com"
AUDIENCE = "hytale-server"


def session_tokens(app: object, count: int) -> list[str]:
    world = app.state.world  # type: ignore[attr-defined]
    now = int(time.time())
    return [
        world.keyring.sign(
            {
                "iss": ISSUER,
                "aud": AUDIENCE,
                "sub": str(uuid.uuid4()),
                "iat": now,
                "exp": now + 3600,
                "jti": uuid.uuid4().hex,
                "scope": "hytale:server",
            }
        )
        for _ in range(count)
    ]


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def cpu_rate(done: int, started: float) -> float:
    """Validations per second of this thread's CPU time: other processes on a shared
    machine slow the wall clock, not the work (each method is timed the same way)."""
    return done / max(time.thread_time() - started, 1e-9)


async def main(count: int, rounds: int, chunk: int) -> None:
    app = create_hytale_app(HytaleConfig())
    tokens = session_tokens(app, count)
    with BackgroundServer(app) as url:
        async with httpx.AsyncClient(base_url=url) as client:

            async def fetch() -> dict:
                return (await client.get("/.well-known/jwks.json")).json()

            document = await fetch()
            kid, public_key = next(iter(parse_jwks(document).items()))
            jwks = JwksCache(fetch)
            assert await jwks.key(kid) is not None  # warm: one fetch over HTTP
            pyjwt_key = jwt.PyJWK(next(k for k in document["keys"] if k["kid"] == kid)).key
            seen = TokenValidator(jwks, issuer=ISSUER, audience=AUDIENCE)
            await seen.validate(tokens[0], "session")

            async def raw(batch: list[str]) -> float:
                split = [(_b64(t.rsplit(".", 1)[1]), t.rsplit(".", 1)[0].encode()) for t in batch]
                started = time.thread_time()
                for signature, message in split:
                    public_key.verify(signature, message)
                return cpu_rate(len(split), started)

            async def pyjwt(batch: list[str]) -> float:
                started = time.thread_time()
                for token in batch:
                    jwt.decode(
                        token, pyjwt_key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER
                    )
                return cpu_rate(len(batch), started)

            async def distinct(batch: list[str]) -> float:
                validator = TokenValidator(jwks, issuer=ISSUER, audience=AUDIENCE)
                started = time.thread_time()
                for token in batch:
                    await validator.validate(token, "session")
                return cpu_rate(len(batch), started)

            async def repeated(batch: list[str]) -> float:
                token, times = tokens[0], len(batch) * 20
                started = time.thread_time()
                for _ in range(times):
                    await seen.validate(token, "session")
                return cpu_rate(times, started)

            methods = {"raw": raw, "pyjwt": pyjwt, "distinct": distinct, "repeated": repeated}
            await distinct(tokens[:chunk])  # warm-up
            rates: dict[str, list[float]] = {name: [] for name in methods}
            # Short segments, alternating methods: each ratio compares neighbours in time.
            for _ in range(rounds):
                for at in range(0, count, chunk):
                    batch = tokens[at : at + chunk]
                    for name, method in methods.items():
                        rates[name].append(await method(batch))
    median = {name: statistics.median(values) for name, values in rates.items()}

    def paired(name: str) -> float:
        return statistics.median(a / b for a, b in zip(rates[name], rates["raw"], strict=True))

    print(f"tokens: {count}, rounds: {rounds}, segments of {chunk}; CPU-time rates, medians")
    print(f"raw_ed25519_verify_per_s: {median['raw']:.0f}")
    print(f"pyjwt_decode_per_s: {median['pyjwt']:.0f}")
    print(f"validator_distinct_per_s: {median['distinct']:.0f}")
    print(f"validator_repeated_per_s: {median['repeated']:.0f}")
    print(f"pyjwt_vs_raw: {paired('pyjwt'):.3f}")
    print(f"validator_distinct_vs_raw: {paired('distinct'):.3f}")
    print(f"validator_repeated_vs_raw: {paired('repeated'):.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.tokens, args.rounds, args.chunk))
