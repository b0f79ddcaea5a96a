"""Each product is one folder: its config section is pure pydantic, and its renderers reach other products only
through the shared layers and the naming module, never through another product's code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS = sorted(path.parent.name for path in (ROOT / "components").glob("*/component.py"))
# What every product's pure modules may use besides its own folder: the kit, the types of the shared layers it
# contributes to (alerts to monitoring, log sources to the log shipper and the index families they ship to,
# database logins to the metadata layer, service buckets to the storage layer), and the input model.
SHARED = ("components.kit.", "components.monitoring.component", "components.logs.shipping", "components.logs.spec",
          "components.metadata.access", "components.storage.access", "infra.model.")
# The shared layers collect what products contribute (components/platform.py lists it); they name no product.
COLLECTORS = ("components/logs/shipping.py", "components/metadata/access.py", "components/storage/access.py",
              "components/storage/component.py", "components/runtime/values.py",
              "components/runtime/component.py", "components/runtime/network.py", "components/monitoring/component.py")


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
    return modules


def test_every_layer_is_a_product_folder():
    assert PRODUCTS == ["ingestion", "lakehouse", "logs", "metadata", "monitoring", "presentation", "runtime",
                        "storage"]


PURE_MODULES = sorted(
    path.relative_to(ROOT) for product in PRODUCTS for path in (ROOT / "components" / product).glob("*.py")
    if path.name not in ("component.py", "provider.py", "__init__.py")
)


@pytest.mark.parametrize("path", PURE_MODULES, ids=str)
def test_renderers_use_no_other_products_code(path):
    product = path.parts[1]
    foreign = sorted(
        module for module in imported_modules(ROOT / path)
        if module.startswith("components.") and not module.startswith(f"components.{product}.")
        and module != f"components.{product}" and not module.startswith(SHARED)
        and not any(shared.startswith(f"{module}.") for shared in SHARED)  # `from components.logs import shipping`
    )
    assert not foreign, f"{path} reaches into {foreign}; name it in infra/model/naming.py"


@pytest.mark.parametrize("path", COLLECTORS)
def test_shared_layers_name_no_product(path):
    own = f"components.{Path(path).parts[1]}."
    products = [p for p in PRODUCTS if p not in ("kit", "monitoring", "logs", "runtime")]
    # Config sections are the input model's (infra/model/config.py composes them); code is not.
    foreign = sorted(module for module in imported_modules(ROOT / path)
                     if module.startswith(tuple(f"components.{p}." for p in products)) and not module.startswith(own)
                     and not module.startswith(tuple(f"components.{p}.config" for p in products)))
    assert not foreign, f"{path} imports {foreign}: a shared layer takes products' contributions as arguments"


def test_config_sections_load_without_pulumi():
    sections = [f"components.{product}.config" for product in PRODUCTS
                if (ROOT / "components" / product / "config.py").exists()]
    code = ("import sys\n" + "".join(f"import {module}\n" for module in [*sections, "infra.model.config"])
            + "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('pulumi', 'grpc'))}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"the config model imports {result.stdout.strip()}"
    assert len(sections) == 7
