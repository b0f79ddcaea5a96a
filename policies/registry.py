"""The pack's contents: its name and every policy, in catalogue order. `__main__.py` builds the pack from this."""

from __future__ import annotations

from . import (
               access,
               allow_list,
               identity,
               ingestion,
               kubernetes,
               lakehouse,
               logs,
               logs_audit,
               matrix,
               metadata,
               presentation,
               storage_aws,
               storage_minio,
)

PACK_NAME = "dataplatform-policies"
POLICIES = [*storage_aws.POLICIES, *storage_minio.POLICIES, *kubernetes.POLICIES, *metadata.POLICIES, *logs.POLICIES,
            *logs_audit.POLICIES, *lakehouse.POLICIES, *ingestion.POLICIES, *presentation.POLICIES, *access.POLICIES,
            *matrix.POLICIES,
            *identity.POLICIES, *allow_list.POLICIES]
