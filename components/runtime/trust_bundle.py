"""`TrustBundleFile`: writes the stack's CA PEM to a file on the deployer and outputs its path.

Bridged providers that only read a CA *file* (pulumi-minio `minioCacertFile`, pulumi-postgresql
`sslrootcert`) take `path` from this resource, so they are configured after the file exists
(docs/decisions/0001-deployment-topology.md). The file is rewritten on every create, update and read
(a fresh deployer has the state but not the file); it holds a public certificate only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.kit.rest import unwrap_sdk_pickler


def default_path(stack: str) -> str:
    """`~/.dataplatform/<stack>/ca.pem` on the deployer."""
    return str(Path.home() / ".dataplatform" / stack / "ca.pem")


def write_bundle(path: str, pem: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(pem if pem.endswith("\n") else pem + "\n")
    os.chmod(temporary, 0o644)
    temporary.replace(target)


class TrustBundleProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        write_bundle(props["path"], props["pem"])
        return CreateResult(id_=props["path"], outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in ("path", "pem") if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=["path"] if "path" in changed else [])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        write_bundle(news["path"], news["pem"])
        return UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if props.get("pem"):
            write_bundle(props["path"], props["pem"])
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        Path(props["path"]).unlink(missing_ok=True)


class TrustBundleFile(Resource, module="runtime", name="TrustBundleFile"):
    """The CA bundle file on the deployer; `path` is what file-only providers take."""

    path: pulumi.Output[str]
    pem: pulumi.Output[str]

    def __init__(
        self, name: str, pem: pulumi.Input[str], path: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        unwrap_sdk_pickler()
        super().__init__(TrustBundleProvider(), name, {"pem": pem, "path": path}, opts)
