"""Composition root of hytale-auth: settings → pool → broker → HTTP app."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.settings import load_settings
from nodebyte_hytale_auth.settings import HytaleAuthSettings

SERVICE = "hytale-auth"


def build_app(settings: HytaleAuthSettings | None = None) -> Litestar:
    settings = settings or load_settings(HytaleAuthSettings)
    runtime = Runtime(
        service=SERVICE,
        schema="hytale_auth",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
    )
    return runtime.create_app([])


def main() -> None:
    settings = load_settings(HytaleAuthSettings)
    serve(build_app(settings), settings, SERVICE)
