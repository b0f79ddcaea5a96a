"""The controls of the evidence report: each policy under the platform's principles, and the CIS benchmark controls
it matches.

The principles are the product brief's: encryption at rest, encryption in transit, least privilege, audit retention
of at least 90 days, and protection of data. A policy falls under a principle by its tags (the pack's closed set:
encryption, transport, access, audit, retention; `kubernetes` alone means protection of data), so a new policy is
placed without an edit here; a test fails for a policy under none.

CIS mappings name one version of each benchmark and are listed only where the policy checks what the control asks
(our reading of each control's title against the policy's checks, in docs/policies.md); the ids and titles come from
`cis_benchmarks.json`, copied from prowler's compliance files (the file names the source and commit), and a test
rejects an id that version does not list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BENCHMARKS_FILE = Path(__file__).resolve().parent / "cis_benchmarks.json"
AWS = "cis-aws-foundations-5.0.0"
KUBERNETES = "cis-kubernetes-1.10.0"

# Principle id -> (title, the pack tags that place a policy under it).
PRINCIPLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "encryption-at-rest": ("Encryption at rest", ("encryption",)),
    "encryption-in-transit": ("Encryption in transit", ("transport",)),
    "least-privilege": ("Least privilege", ("access",)),
    "audit-retention": ("Audit retention of at least 90 days", ("audit",)),
    "data-protection": ("Protection of data (versions, backups, deletion protection, pinned and bounded workloads)",
                        ("retention",)),
}

# Policy id -> [(benchmark, control id)]: only where the policy enforces what the control's title asks.
CIS: dict[str, list[tuple[str, str]]] = {
    # 1.15 Ensure IAM policies that allow full *:* administrative privileges are not attached (the policy refuses
    # any wildcard action or resource, which includes *:*).
    "aws-iam-policy-disallow-wildcard-access": [(AWS, "1.15")],
    # 2.1.1 Ensure S3 Bucket Policy is set to deny HTTP requests.
    "aws-s3-bucket-require-tls": [(AWS, "2.1.1")],
    # 2.1.4 Ensure that S3 is configured with 'Block Public Access' enabled.
    "aws-s3-bucket-disallow-public-access": [(AWS, "2.1.4")],
    # 2.2.1 Ensure that encryption-at-rest is enabled for RDS instances.
    "aws-rds-instance-enable-encryption": [(AWS, "2.2.1")],
    # 2.2.3 Ensure that RDS instances are not publicly accessible.
    "aws-rds-instance-disallow-public-access": [(AWS, "2.2.3")],
    # 3.6 Ensure rotation for customer-created symmetric CMKs is enabled.
    "aws-kms-key-enable-rotation": [(AWS, "3.6")],
    # 5.2.2-5.2.7: privileged containers, host PID/IPC/network namespaces, allowPrivilegeEscalation, root
    # containers; 5.7.2 the seccomp profile (RuntimeDefault); 5.7.3 security contexts on pods and containers.
    "kubernetes-pod-require-restricted-security": [(KUBERNETES, control) for control in (
        "5.2.2", "5.2.3", "5.2.4", "5.2.5", "5.2.6", "5.2.7", "5.7.2", "5.7.3")],
    # 5.2.1 Ensure that the cluster has at least one active policy control mechanism in place (Pod Security
    # Admission, enforced per namespace).
    "kubernetes-namespace-require-restricted-pod-security": [(KUBERNETES, "5.2.1")],
    # 5.3.2 Ensure that all Namespaces have Network Policies defined.
    "kubernetes-namespace-require-network-policy": [(KUBERNETES, "5.3.2")],
}


def benchmarks() -> dict[str, Any]:
    """Benchmark key -> {name, source, controls: {id: title}}; a repeated id keeps its first title."""
    document = json.loads(BENCHMARKS_FILE.read_text())
    result = {}
    for key, benchmark in document["benchmarks"].items():
        controls: dict[str, str] = {}
        for control, title in benchmark["controls"]:
            controls.setdefault(control, title)
        result[key] = {"name": benchmark["name"], "source": benchmark["source"], "controls": controls}
    return result


def principles_of(tags: list[str] | tuple[str, ...]) -> list[str]:
    """The principles a policy's tags place it under; a policy tagged only `kubernetes` (resource limits, pinned
    images) protects the platform that holds the data."""
    topics = set(tags) - {"kubernetes"}
    if not topics:
        return ["data-protection"]
    return [principle for principle, (_, wanted) in PRINCIPLES.items() if set(wanted) & topics]


def cis_of(policy: str, known: dict[str, Any]) -> list[dict[str, str]]:
    """The CIS controls `policy` maps to, with their benchmark's name and the control's title."""
    return [{"benchmark": known[benchmark]["name"], "id": control,
             "title": known[benchmark]["controls"][control]} for benchmark, control in CIS.get(policy, [])]
