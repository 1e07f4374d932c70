"""Composition root of scheduler: settings → pool → broker → HTTP app."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.settings import load_settings
from nodebyte_scheduler.settings import SchedulerSettings

SERVICE = "scheduler"


def build_app(settings: SchedulerSettings | None = None) -> Litestar:
    settings = settings or load_settings(SchedulerSettings)
    runtime = Runtime(
        service=SERVICE,
        schema="scheduler",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
    )
    return runtime.create_app([])


def main() -> None:
    settings = load_settings(SchedulerSettings)
    serve(build_app(settings), settings, SERVICE)
