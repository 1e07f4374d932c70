"""The alert rules fire when they should and stay quiet otherwise: promtool's unit tests
(deploy/prometheus/tests) run here, and every alert has a case of each kind.

promtool comes with Prometheus (Debian package `prometheus`; .ci/run installs it)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from observability_queries import ALERT_RULES, alert_rules

UNIT_TESTS = sorted((ALERT_RULES.parent / "tests").glob("*.yaml"))


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not installed (Debian package `prometheus`; .ci/run installs it)")
    return found


def test_the_rule_file_is_valid_for_prometheus() -> None:
    done = subprocess.run(  # noqa: S603
        [_promtool(), "check", "rules", str(ALERT_RULES)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_unit_tests_pass() -> None:
    assert UNIT_TESTS, "no promtool unit tests in deploy/prometheus/tests"
    done = subprocess.run(  # noqa: S603
        [_promtool(), "test", "rules", *map(str, UNIT_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _cases() -> tuple[set[str], set[str]]:
    """Alert names some unit test expects firing, and ones some test expects quiet."""
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in UNIT_TESTS:
        document = yaml.safe_load(path.read_text())
        assert document["rule_files"] == ["../alerts.yaml"], path.name
        for test in document["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    return firing, quiet


@pytest.mark.parametrize("alert", [r["alert"] for r in alert_rules() if "alert" in r])
def test_each_alert_has_a_case_that_fires_it_and_one_that_keeps_it_quiet(alert: str) -> None:
    firing, quiet = _cases()
    assert alert in firing, f"no promtool test in deploy/prometheus/tests fires {alert}"
    assert alert in quiet, f"no promtool test in deploy/prometheus/tests keeps {alert} quiet"


def test_the_unit_tests_name_only_alerts_that_exist() -> None:
    firing, quiet = _cases()
    names = {r["alert"] for r in alert_rules() if "alert" in r}
    assert (firing | quiet) <= names, sorted((firing | quiet) - names)
