"""Offline checks of the deploy files (compose, Kubernetes, Tilt, Grafana, Prometheus).

Nothing here needs a Docker engine, a cluster or the network: overlays are rendered with
`kubectl kustomize` and validated against the Kubernetes schemas (kubernetes-validate) and
the operators' CRDs (deploy/schemas/crds).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The test modules here import the helper modules beside them (deploy_files, ...) and the
# PrometheusRule writer of deploy/prometheus.
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "deploy" / "prometheus")]
