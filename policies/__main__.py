"""The CrossGuard pack: builds the `PolicyPack` from `policies.registry` and nothing else.

Constructing the pack starts the analyzer's gRPC server, prints its port and blocks (REFERENCE.md). The CLI
and the offline gate (infra/gate.py) both run this file with the pack's own virtualenv and the pack directory
as the working directory, so the repository root goes on the path for the `policies` package to import.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.evaluation import install
from policies.registry import PACK_NAME, POLICIES

install()  # each resource converted once per analyzer call, not once per policy (policies/evaluation.py)
PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.ADVISORY)
