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
# What every product may use besides its own folder: the kit, the shared layers it contributes to (alerts to
# monitoring, log-derived metrics to the log shipper, the runtime's shared values), and the input model.
SHARED = ("components.kit.", "components.monitoring.component", "components.logs.shipping",
          "components.runtime.values", "infra.model.")


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


@pytest.mark.parametrize("product", [p for p in PRODUCTS if (ROOT / "components" / p / "spec.py").exists()])
def test_renderers_use_no_other_products_code(product):
    foreign = sorted(
        module for module in imported_modules(ROOT / "components" / product / "spec.py")
        if module.startswith("components.") and not module.startswith(f"components.{product}.")
        and module != f"components.{product}" and not module.startswith(SHARED)
    )
    assert not foreign, f"components/{product}/spec.py reaches into {foreign}; name it in infra/model/naming.py"


def test_config_sections_load_without_pulumi():
    sections = [f"components.{product}.config" for product in PRODUCTS
                if (ROOT / "components" / product / "config.py").exists()]
    code = ("import sys\n" + "".join(f"import {module}\n" for module in [*sections, "infra.model.config"])
            + "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('pulumi', 'grpc'))}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"the config model imports {result.stdout.strip()}"
    assert len(sections) == 7
