"""Every AWS policy document a plan holds (IAM identity policies, trust policies, bucket, key and topic policies,
MinIO's IAM-grammar policies), found by shape rather than by a list of resource types: any input, at any depth, that
is a policy document (an object with `Statement`, or a JSON string of one). tests/infra/test_parliament.py lints
each with parliament.

    python -m infra.offline.iam_documents --stack prod     # list them: resource, type, input path
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from infra.offline.harness import Recording, unwrap_secret


@dataclass(frozen=True)
class PolicyDocument:
    resource: str
    type: str
    path: str
    """Where in the resource's inputs, e.g. `policy` or `assumeRolePolicy`."""
    text: str
    """The document as JSON."""

    @property
    def kind(self) -> str:
        """`trust`, `resource` (names a Principal: bucket, key, topic policies) or `identity`."""
        document = json.loads(self.text)
        statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
        if any(str(statement.get("Action", "")).startswith("sts:Assume")
               or any(str(action).startswith("sts:Assume") for action in _as_list(statement.get("Action", [])))
               for statement in statements) and all("Principal" in statement for statement in statements):
            return "trust"
        if any("Principal" in statement or "NotPrincipal" in statement for statement in statements):
            return "resource"
        return "identity"


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _as_document(value: Any) -> dict | None:
    value = unwrap_secret(value)
    if isinstance(value, str) and '"Statement"' in value:
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict) and "Statement" in value and isinstance(value["Statement"], list | dict):
        return value
    return None


def _walk(value: Any, path: str) -> Iterator[tuple[str, dict]]:
    document = _as_document(value)
    if document is not None:
        yield path, document
        return
    value = unwrap_secret(value)
    if isinstance(value, dict):
        for key, item in value.items():
            if not str(key).startswith("__"):
                yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}.{index}")


def policy_documents(recording: Recording) -> list[PolicyDocument]:
    found = []
    for resource in recording:
        for path, document in _walk(resource.inputs, ""):
            found.append(PolicyDocument(resource.name, resource.type, path, json.dumps(document, sort_keys=True)))
    return found


def main(argv: list[str] | None = None) -> int:
    from infra.model.stackfiles import load_stack
    from infra.offline.harness import run_program
    from infra.program import main as program

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    args = parser.parse_args(argv)
    for document in policy_documents(run_program(program, load_stack(args.stack))):
        print(f"{document.resource}\t{document.type}\t{document.path}\t{document.kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
