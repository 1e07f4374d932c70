"""The chaos suite counts an effect by its marker whole, never by a prefix of another's."""

from __future__ import annotations

from chaos.workload import _mentions


def test_a_marker_is_counted_whole() -> None:
    body = {"embeds": [{"fields": [{"name": "marker", "value": "chaos-ab-31"}]}]}
    assert _mentions(body, "chaos-ab-31")
    assert not _mentions(body, "chaos-ab-3")  # the first phase's 3 is not doubled by 31
    assert _mentions({"command": "say chaos-ab-job-5\n"}, "say chaos-ab-job-5")
    assert not _mentions({"command": "say chaos-ab-job-55"}, "say chaos-ab-job-5")
