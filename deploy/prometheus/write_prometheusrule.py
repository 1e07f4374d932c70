"""Write deploy/prometheus/alerts.yaml as the PrometheusRule the Kubernetes overlays apply.

    python deploy/prometheus/write_prometheusrule.py     (or `make deploy-rules`)

The rule file is the one source: docker compose's Prometheus loads it as it is, and the
Prometheus Operator needs the same groups inside a PrometheusRule.
"""

from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "alerts.yaml"
TARGET = HERE.parent / "k8s" / "components" / "monitoring" / "prometheusrule.yaml"
HEADER = (
    "# Written by deploy/prometheus/write_prometheusrule.py from deploy/prometheus/alerts.yaml:\n"
    "# edit that file and run `make deploy-rules` (a test fails while the two differ).\n"
)


class _BlockStrings(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, as they are written in alerts.yaml."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStrings.add_representer(str, _represent_str)


def prometheus_rule(groups: list[dict]) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "nodebyte", "labels": {"release": "prometheus"}},
        "spec": {"groups": groups},
    }


def render() -> str:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    body = yaml.dump(prometheus_rule(groups), Dumper=_BlockStrings, sort_keys=False, width=120)
    return HEADER + body


def main() -> None:
    TARGET.write_text(render())
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
