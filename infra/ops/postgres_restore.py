"""The metadata database's restore, written out from a stack's plan (build/plan/<stack>.json, `make plan`).

    python -m infra.ops.postgres_restore --stack dev  [--name metadata-restored] [--at 2026-12-01T09:30:00Z]
    python -m infra.ops.postgres_restore --stack prod [--name dataplatform-prod-metadata-pitr] [--at ...]
    make postgres-restore STACK=dev ARGS="--at ..."

dev (CloudNativePG): prints the manifest of a new `Cluster` that bootstraps from the plan's ObjectStore through the
Barman Cloud plugin (components/metadata/backups.py `recovery_cluster`), ready for `kubectl apply -f -`.

prod (RDS): prints the commands of a point-in-time restore: `aws rds restore-db-instance-to-point-in-time` with
every setting the plan gives the instance (parameter group, subnet group, security groups, class, Multi-AZ, IAM
authentication, log exports, deletion protection, tags, CA), checked against the RDS API definition that botocore
ships; then the checks, the cut-over by renaming, and the Pulumi state steps that adopt the restored instance.

docs/backup-and-restore.md walks through both. Without `--at` the restore goes to the latest restorable time.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from components.metadata.backups import CLUSTER_NAME, recovery_cluster
from infra.ops.inputs import InputError, parse_time

CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"
OBJECT_STORE_TYPE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
RDS_TYPE = "aws:rds/instance:Instance"
RESTORE_OPERATION = "RestoreDBInstanceToPointInTime"
EXIT_OK, EXIT_INPUT = 0, 2


def _one(plan: dict[str, Any], type_: str) -> dict[str, Any]:
    found = [resource for resource in plan["resources"] if resource["type"] == type_]
    if len(found) != 1:
        raise InputError(f"the {plan['stack']} plan declares {len(found)} {type_}; the restore needs exactly one")
    return found[0]


def _rfc3339(moment: str) -> str:
    return parse_time(moment, "--at").isoformat()


# ---- dev: CloudNativePG ---------------------------------------------------------------------------------------


def cnpg_recovery_manifest(plan: dict[str, Any], name: str, at: str | None = None) -> dict[str, Any]:
    """The recovery Cluster for the plan's Cluster, from the plan's ObjectStore, under the source's server name."""
    cluster = _one(plan, CLUSTER_TYPE)["inputs"]
    store = _one(plan, OBJECT_STORE_TYPE)["inputs"]
    if name == cluster["metadata"]["name"]:
        raise InputError(f"--name must differ from the running cluster's ({name}): recover beside it, then cut over")
    archiver = next((plugin for plugin in cluster["spec"].get("plugins", []) if plugin.get("isWALArchiver")), None)
    if archiver is None or archiver["parameters"]["barmanObjectName"] != store["metadata"]["name"]:
        raise InputError("the plan's Cluster does not archive through the plan's ObjectStore")
    server_name = archiver["parameters"].get("serverName", cluster["metadata"]["name"])
    return recovery_cluster(cluster, name, store["metadata"]["name"], server_name,
                            _rfc3339(at) if at is not None else None)


# ---- prod: RDS ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RdsRestore:
    source: str
    target: str
    request: dict[str, Any]
    """The RestoreDBInstanceToPointInTime parameters, valid against the API definition."""
    instance_urn: str
    parent_urn: str
    provider_urn: str | None
    retention_days: int
    kms_key: str
    """The key the plan gives the instance (a mock's value in an offline plan: the procedure compares the source's)."""

    def restore_command(self) -> str:
        from botocore import xform_name

        words = ["aws", "rds", xform_name(RESTORE_OPERATION, "-")]
        for member, value in self.request.items():
            flag = "--" + xform_name(member, "-")
            if isinstance(value, bool):
                words.append(flag if value else "--no-" + flag[2:])
            elif member == "Tags":
                words += [flag, *(f"Key={tag['Key']},Value={tag['Value']}" for tag in value)]
            elif isinstance(value, list):
                words += [flag, *map(str, value)]
            elif isinstance(value, datetime):
                words += [flag, value.isoformat()]
            else:
                words += [flag, str(value)]
        return shlex.join(words)

    def steps(self) -> list[tuple[str, list[str]]]:
        """The procedure, step by step: what it does, and its commands."""
        source, target = self.source, self.target
        resource = self.instance_urn.rsplit("::", 1)[1]
        parent = f"{self.parent_urn.rsplit('::', 1)[1]}={self.parent_urn}"
        provider = (f" --provider {shlex.quote(self.provider_urn.rsplit('::', 2)[1] + '=' + self.provider_urn)}"
                    if self.provider_urn else "")
        query = "DBInstances[0].[DBInstanceStatus,KmsKeyId,DBParameterGroups[0].DBParameterGroupName]"
        return [
            (f"The restorable window ({self.retention_days} days of automated backups): the time must lie in it",
             [f"aws rds describe-db-instance-automated-backups --db-instance-identifier {source} "
              "--query 'DBInstanceAutomatedBackups[0].RestoreWindow'"]),
            ("Restore beside the running instance, with every setting the program gives it (the KMS key is the "
             "source's: a point-in-time restore keeps it)",
             [self.restore_command(),
              f"aws rds wait db-instance-available --db-instance-identifier {target}"]),
            ("Check the restored instance: available, encrypted with the source's key (the stack's "
             "platform-metadata-key), the program's parameter group; then connect to it and check the data",
             [f"aws rds describe-db-instances --db-instance-identifier {source} --query '{query}'",
              f"aws rds describe-db-instances --db-instance-identifier {target} --query '{query}'"]),
            ("Cut over: the platform reaches the instance by its identifier's address, so swap the identifiers",
             [f"aws rds modify-db-instance --db-instance-identifier {source} "
              f"--new-db-instance-identifier {source}-replaced --apply-immediately",
              f"aws rds wait db-instance-available --db-instance-identifier {source}-replaced",
              f"aws rds modify-db-instance --db-instance-identifier {target} "
              f"--new-db-instance-identifier {source} --apply-immediately",
              f"aws rds wait db-instance-available --db-instance-identifier {source}"]),
            ("Adopt the restored instance in the stack's state (it is protected: unprotect, forget, import)",
             [f"pulumi state unprotect --yes {shlex.quote(self.instance_urn)}",
              f"pulumi state delete --yes {shlex.quote(self.instance_urn)}",
              f"pulumi import --yes --protect --generate-code=false aws:rds/instance:Instance {resource} {source} "
              f"--parent {shlex.quote(parent)}{provider}",
              "pulumi preview --diff   # must show no replacement of the instance"]),
            ("Once satisfied, delete the replaced instance (it keeps its deletion protection until then)",
             [f"aws rds modify-db-instance --db-instance-identifier {source}-replaced --no-deletion-protection "
              "--apply-immediately",
              f"aws rds delete-db-instance --db-instance-identifier {source}-replaced "
              f"--final-db-snapshot-identifier {source}-replaced-final"]),
        ]


def rds_restore(plan: dict[str, Any], target: str | None = None, at: str | None = None) -> RdsRestore:
    import botocore.session
    from botocore.validate import validate_parameters

    resource = _one(plan, RDS_TYPE)
    instance = resource["inputs"]
    source = instance["identifier"]
    target = target or f"{source}-pitr"
    if target == source:
        raise InputError("--name must differ from the running instance's identifier: restore beside it")
    request: dict[str, Any] = {"SourceDBInstanceIdentifier": source, "TargetDBInstanceIdentifier": target}
    if at is not None:
        request["RestoreTime"] = datetime.fromisoformat(_rfc3339(at))
    else:
        request["UseLatestRestorableTime"] = True
    request |= {
        "DBInstanceClass": instance["instanceClass"],
        "DBSubnetGroupName": instance["dbSubnetGroupName"],
        "VpcSecurityGroupIds": list(instance["vpcSecurityGroupIds"]),
        "DBParameterGroupName": instance["parameterGroupName"],
        "MultiAZ": instance["multiAz"],
        "PubliclyAccessible": instance["publiclyAccessible"],
        "StorageType": instance["storageType"],
        "MaxAllocatedStorage": int(instance["maxAllocatedStorage"]),
        "EnableIAMDatabaseAuthentication": instance["iamDatabaseAuthenticationEnabled"],
        "EnableCloudwatchLogsExports": list(instance["enabledCloudwatchLogsExports"]),
        "DeletionProtection": instance["deletionProtection"],
        "CopyTagsToSnapshot": instance["copyTagsToSnapshot"],
        "AutoMinorVersionUpgrade": instance["autoMinorVersionUpgrade"],
        "CACertificateIdentifier": instance["caCertIdentifier"],
        "BackupRetentionPeriod": int(instance["backupRetentionPeriod"]),
        "Tags": [{"Key": key, "Value": value} for key, value in sorted(instance.get("tags", {}).items())],
    }
    model = botocore.session.get_session().get_service_model("rds")
    validate_parameters(request, model.operation_model(RESTORE_OPERATION).input_shape)
    return RdsRestore(source=source, target=target, request=request, instance_urn=resource["urn"],
                      parent_urn=resource["parent"], provider_urn=resource.get("provider"),
                      retention_days=int(instance["backupRetentionPeriod"]), kms_key=instance["kmsKeyId"])


# ---- command line ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None, out=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ops.postgres_restore", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--plan", type=Path, help="the plan file (default build/plan/<stack>.json)")
    parser.add_argument("--name", help="the restored cluster or instance (default: metadata-restored / <id>-pitr)")
    parser.add_argument("--at", help="point in time, ISO 8601 with a zone; default: the latest that can be reached")
    args = parser.parse_args(argv)
    out = out or sys.stdout
    path = args.plan or Path("build") / "plan" / f"{args.stack}.json"
    try:
        if not path.is_file():
            raise InputError(f"{path} does not exist: run `make plan STACK={args.stack}` first")
        plan = json.loads(path.read_text())
        if any(resource["type"] == CLUSTER_TYPE for resource in plan["resources"]):
            manifest = cnpg_recovery_manifest(plan, args.name or f"{CLUSTER_NAME}-restored", args.at)
            print(yaml.safe_dump(manifest, sort_keys=False), end="", file=out)
            return EXIT_OK
        restore = rds_restore(plan, args.name, args.at)
        for number, (what, commands) in enumerate(restore.steps(), start=1):
            print(f"# {number}. {what}", file=out)
            for command in commands:
                print(command, file=out)
        return EXIT_OK
    except (InputError, ValueError) as error:
        print(f"postgres-restore: {error}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
