"""`GET /health` as both NodeByte READMEs document it, on every service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from nodebyte_devstack.processes import SERVICES, Stack


async def test_every_service_answers_health_with_status_and_timestamp(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for service in SERVICES:
            response = await client.get(stack.config.url(service) + "/health")
            assert response.status_code == 200, (service, response.text)
            body = response.json()
            assert set(body) == {"status", "timestamp"}, body
            assert body["status"] == "ok"
            assert body["timestamp"].endswith("Z"), body  # "2026-01-09T10:30:00Z"
            stamp = datetime.fromisoformat(body["timestamp"])
            assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)
