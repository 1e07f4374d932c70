"""Between services: every (producer, event type, consumer) pair of the topology holds.

The producers are `topology.PUBLISHES` (the outbox enforces it), the consumers the
topology's queues and streams. What a producer sets and what a consumer reads are read
from their code (`nodebyte_devstack.event_flow`): the handlers, the Discord embeds and
the emails they build. Required fields cannot be left out (the Struct refuses to be
built without them); a defaulted field a consumer reads must be set by its producer
somewhere, or the consumer only ever sees the default.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from uuid import UUID

import jinja2.meta
import msgspec
import pytest

from nodebyte_common import events, outbox
from nodebyte_common.email_catalogue import TEMPLATES
from nodebyte_common.topology import (
    EXTERNAL,
    PUBLISHES,
    STREAMS,
    SUBSCRIPTIONS,
    UndeclaredPublication,
    check_publishes,
    producers,
    source_of,
)
from nodebyte_devstack.event_flow import EVERY_FIELD, ServiceFlow, defaulted_fields, service_flow
from nodebyte_notifier import email_templates

ROOT = Path(__file__).resolve().parents[1]
CONSUMERS = SUBSCRIPTIONS + STREAMS

# Catalogued, published by no service, and why.
NOT_PUBLISHED = {
    "node.health_reported": "agents' health goes to the telemetry table in batches, not the bus"
}
# (producer, type) built from data the code cannot show (a job's stored payload):
# the fields are what the admin wrote, the defaults apply to the rest.
BUILT_FROM_PAYLOAD = {("scheduler", "sync.logs_cleanup_requested")}
# Optional email variables no code of ours sets: only callers of POST /api/v1/email send them.
SET_BY_API_CALLERS: dict[str, set[str]] = {
    "welcome": {"verify_url"},  # the README's queue example sends one
    "alert": {"url"},
    "sync-report": {"items_failed"},  # a sync.failed does not count them
}


@cache
def flow(service: str) -> ServiceFlow:
    return service_flow(ROOT, service)


EVERY = {EVERY_FIELD}


def fields_of(event_type: str) -> list[str]:
    return [f.name for f in msgspec.structs.fields(events.CATALOGUE[event_type])]


def consumers_of(event_type: str) -> list[str]:
    return sorted({sub.service for sub in CONSUMERS if event_type in sub.event_types})


PAIRS = [
    (producer, event_type, consumer)
    for event_type in sorted(events.CATALOGUE)
    for producer in producers(event_type)
    for consumer in consumers_of(event_type)
]


def test_the_topology_has_its_pairs() -> None:
    assert len(PAIRS) == len(set(PAIRS)) >= 25, PAIRS


def test_every_consumed_type_has_a_producer() -> None:
    orphans = {t for sub in CONSUMERS for t in sub.event_types if not producers(t)}
    assert orphans == set(), f"consumed, never published: {sorted(orphans)}"


def test_every_published_type_is_consumed_or_said_to_be_external() -> None:
    published = {t for types in PUBLISHES.values() for t in types}
    unread = {t for t in published if not consumers_of(t)}
    assert unread - set(EXTERNAL) == set(), "published, consumed by nobody, no reason given"
    assert {t for t in EXTERNAL if consumers_of(t) or t not in published} == set(), (
        "EXTERNAL names a type that is consumed or not published"
    )


def test_every_catalogued_type_is_published() -> None:
    published = {t for types in PUBLISHES.values() for t in types}
    assert set(events.CATALOGUE) - published == set(NOT_PUBLISHED)
    assert published <= set(events.CATALOGUE)


@pytest.mark.parametrize("service", sorted(PUBLISHES))
def test_a_service_builds_exactly_what_it_declares(service: str) -> None:
    """Built and undeclared fails at run time too (the outbox); declared and never built
    is a stale line of the table."""
    sites = flow(service).sites
    built = {site.event_type for site in sites}
    declared = set(PUBLISHES[service])
    unknown = {
        site.where: sorted(site.fields - EVERY - set(fields_of(site.event_type)))
        for site in sites
        if site.fields - EVERY - set(fields_of(site.event_type))
    }
    assert unknown == {}, f"{service} sets fields its events do not declare"
    assert built - declared == set(), f"{service} builds undeclared types"
    stale = declared - built - {t for p, t in BUILT_FROM_PAYLOAD if p == service}
    assert stale == set(), f"{service} declares types it never builds"


@pytest.mark.parametrize(("producer", "event_type", "consumer"), PAIRS)
def test_every_field_a_consumer_reads_is_produced(
    producer: str, event_type: str, consumer: str
) -> None:
    read = flow(consumer).reads.get(event_type, {})
    relied_on = {
        name: where[0] for name, where in read.items() if name in defaulted_fields(event_type)
    }
    set_somewhere = flow(producer).fields_set(event_type)
    if EVERY_FIELD in set_somewhere or (producer, event_type) in BUILT_FROM_PAYLOAD:
        return
    never_set = {name: where for name, where in relied_on.items() if name not in set_somewhere}
    sites = [site.where for site in flow(producer).built(event_type)]
    assert never_set == {}, (
        f"{consumer} reads {event_type} fields {producer} never sets (only their default "
        f"arrives): {never_set}; {producer} builds it at {sites}"
    )


@pytest.mark.parametrize("service", sorted({sub.service for sub in CONSUMERS}))
def test_no_consumer_reads_a_field_its_event_does_not_have(service: str) -> None:
    assert dict(flow(service).unknown_reads) == {}, "renamed or removed from the catalogue?"


def test_the_consumers_reads_include_their_embeds_and_emails() -> None:
    """The derivation sees through handlers into what they build (a guard on the scan)."""
    notifier = flow("notifier").reads

    def read_in(places: list[str], module: str) -> bool:
        return any(f"/{module}:" in place for place in places)

    assert read_in(notifier["alert.raised"]["node_id"], "embeds.py")  # the Discord embed
    assert read_in(notifier["sync.failed"]["error"], "consumers.py")  # the sync-report email
    assert read_in(flow("sync").reads["sync.requested"]["skip_users"], "sync_run.py")


async def test_the_outbox_refuses_a_type_its_service_does_not_declare() -> None:
    check_publishes(source_of("sync"), "sync.completed")
    with pytest.raises(UndeclaredPublication, match="gateway does not declare publishing"):
        check_publishes(source_of("gateway"), "sync.completed")
    with pytest.raises(UndeclaredPublication, match="names no service"):
        check_publishes("test", "sync.completed")
    event = events.AlertResolved(alert_id=UUID(int=1), resolved_at=datetime.now(UTC))
    with pytest.raises(UndeclaredPublication, match="scheduler does not declare"):
        # Refused before anything is written: no connection is needed to see it.
        await outbox.enqueue(None, event, source=source_of("scheduler"))  # type: ignore[arg-type]


def template_reads(template: str) -> set[str]:
    """The data fields (Struct names) an email's HTML and text read."""
    environment = email_templates.environment()
    wire = {f.encode_name: f.name for f in msgspec.structs.fields(TEMPLATES[template])}
    read: set[str] = set()
    for kind in ("html", "txt"):
        source = environment.loader.get_source(environment, f"{template}.{kind}")[0]  # type: ignore[union-attr]
        read |= jinja2.meta.find_undeclared_variables(environment.parse(source))
    return {wire[name] for name in read if name in wire}


EMAIL_SENDERS = ("gateway", "notifier")


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_optional_variable_an_email_reads_is_sent_by_its_code(template: str) -> None:
    """Required data cannot be left out (the Struct); an optional variable the template
    shows that no code ever sets only ever renders empty (callers of the email API may
    set it: those are named in `SET_BY_API_CALLERS`)."""
    sites = [
        s for service in EMAIL_SENDERS for s in flow(service).emails if s.event_type == template
    ]
    set_somewhere = set().union(*(s.fields for s in sites)) | SET_BY_API_CALLERS.get(
        template, set()
    )
    optional = {f.name for f in msgspec.structs.fields(TEMPLATES[template]) if not f.required}
    assert sites, f"no code sends {template}"
    if EVERY_FIELD not in set_somewhere:
        unset = (template_reads(template) & optional) - set_somewhere
        assert unset == set(), f"{template} shows {sorted(unset)}; nothing sets them ({sites})"
