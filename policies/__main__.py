"""The CrossGuard pack: builds the `PolicyPack` from the pack's `registry` module and nothing else.

Constructing the pack starts the analyzer's gRPC server, prints its port and blocks. The CLI runs
this file with the pack's own virtualenv from the pack's folder, whatever that folder is called (`pulumi policy
publish` ships its contents, not its name). The pack's modules import each other relatively, so this file first
loads its own folder as the package `PACKAGE`, under that fixed name; nothing outside the folder is imported
(docs/decisions/0015-self-contained-pack.md).
"""

import importlib
import importlib.util
import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

PACKAGE = "dataplatform_policies"


def _load_pack() -> None:
    folder = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(
        PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)


_load_pack()
evaluation = importlib.import_module(f"{PACKAGE}.evaluation")
registry = importlib.import_module(f"{PACKAGE}.registry")

evaluation.install()  # each resource converted once per analyzer call, not once per policy (evaluation.py)
PolicyPack(name=registry.PACK_NAME, policies=registry.POLICIES, enforcement_level=EnforcementLevel.ADVISORY)
