"""The docs do not drift: the README's configuration table is the model's, its layer table names every layer the
program declares, and every repository path or Markdown document named in the docs, in Python docstrings and
comments, and in the comments of the build and CI files exists."""

from __future__ import annotations

import ast
import fnmatch
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.offline import config_docs

ROOT = Path(__file__).resolve().parents[1]
# Generated or machine-local folders: not part of the repository, never scanned.
SKIPPED_DIRS = {".git", "build", "node_modules", "__pycache__", "dbt_packages", "target", "logs", "venv"}
TOP_LEVEL = sorted(path.name for path in ROOT.iterdir()
                   if path.is_dir() and path.name not in SKIPPED_DIRS and not path.name.startswith(".venv")
                   and not path.name.endswith(".egg-info"))
PATH = re.compile(
    r"(?<![\w./~$@-])(?:" + "|".join(re.escape(name) for name in TOP_LEVEL) + r")/[\w.<>*{}/-]*"
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MARKDOWN_NAME = re.compile(r"(?<![\w/.-])([\w-]+\.md)\b")
COMMENTED = ("Makefile", ".mk", ".yml", ".yaml", ".sh")
# Paths that no longer exist but that decision records rightly name as they were (records are history).
RETIRED = {
    "policies/chart_paths.py": "became infra/model/charts.py (decision 0015)",
}


def _walk(suffixes: tuple[str, ...]) -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS or part.startswith(".venv") or part.endswith(".egg-info")
               for part in relative.parts[:-1]):
            continue
        if path.is_file() and (path.name.endswith(suffixes) or path.name in suffixes):
            yield path


def markdown_files() -> list[Path]:
    return list(_walk((".md",)))


def python_prose(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every docstring and comment of a Python file."""
    source = path.read_text()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                yield body[0].lineno, body[0].value.value


def build_comments(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of the `#` comments of a Makefile, YAML file or shell script."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = re.search(r"(?:^|\s)#(.*)$", line)
        if match:
            yield number, match.group(1)


def prose() -> Iterator[tuple[Path, int, str]]:
    for path in markdown_files():
        yield from ((path, number, line) for number, line in enumerate(path.read_text().splitlines(), 1))
    for path in _walk((".py",)):
        yield from ((path, number, text) for number, text in python_prose(path))
    for path in [*_walk(COMMENTED), ROOT / ".ci" / "run"]:
        yield from ((path, number, text) for number, text in build_comments(path))


def gitignored() -> list[str]:
    return [line.strip().rstrip("/") for line in (ROOT / ".gitignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def exists(named: str, base: Path = ROOT) -> bool:
    """True when the path exists; `<name>`, `{name}` and `*` match any one path segment part."""
    pattern = re.sub(r"<[^>]*>|\{[^}]*\}", "*", named.rstrip("/"))
    if any(fnmatch.fnmatch(pattern, ignored) or pattern.startswith(f"{ignored}/") for ignored in gitignored()):
        return True
    if "*" in pattern:
        return any(base.glob(pattern))
    return (base / pattern).exists()


def named_paths(text: str) -> Iterator[str]:
    for match in PATH.finditer(text):
        yield match.group(0).rstrip(".,:;")


def test_every_repository_path_named_in_docs_and_code_exists():
    """Paths start at the repository's root; in Markdown they may also start at the document's folder. A decision
    record may name a retired path (RETIRED): it tells what was decided about the code of its time."""
    dead = []
    for path, number, text in prose():
        where = f"{path.relative_to(ROOT)}:{number}"
        historical = path.parent == ROOT / "docs" / "decisions"
        dead += [f"{where}: {named}" for named in named_paths(text)
                 if not (historical and named in RETIRED) and not exists(named)
                 and not (path.suffix == ".md" and exists(named, path.parent))]
        if path.suffix == ".md":
            for target in LINK.findall(text):
                if re.match(r"^(?:[a-z]+:|#)", target):
                    continue
                relative = target.split("#", 1)[0]
                if relative and not (path.parent / relative).exists():
                    dead.append(f"{where}: link {target}")
    assert not dead, "named paths that do not exist:\n" + "\n".join(dead)


def test_every_markdown_document_named_is_in_the_repository():
    """A cited document must be one a reader of the repository can open (no design notes kept elsewhere)."""
    documents = {path.name for path in markdown_files()}
    cited = []
    for path, number, text in prose():
        cited += [f"{path.relative_to(ROOT)}:{number}: {name}" for name in MARKDOWN_NAME.findall(text)
                  if name not in documents]
    assert not cited, "documents that are not in the repository:\n" + "\n".join(cited)


def test_catalog_and_catalogue_keep_their_meanings():
    """"catalog" is the data-flow catalog (infra/dataflow.yaml), "catalogue" the policy catalogue (docs/policies.md)."""
    mixed = re.compile(r"\b(?:polic(?:y|ies)(?:'s)? catalog\b(?!ue)|data-flow catalogue)", re.IGNORECASE)
    found = [f"{path.relative_to(ROOT)}:{number}: {match}" for path, number, text in prose()
             for match in mixed.findall(text)]
    assert not found, "one spelling per meaning:\n" + "\n".join(found)


@pytest.mark.parametrize("text", [
    "see infra/model/config.py and docs/decisions/0001-deployment-topology.md.",
    "per stack: policies/config/<stack>.json, components/*.py",
    "policies/venv/bin/python (generated by make setup)",
])
def test_the_path_check_accepts_real_paths(text):
    found = list(named_paths(text))
    assert found and all(exists(named) for named in found)


@pytest.mark.parametrize(("text", "dead"), [
    ("see docs/decisions/0002-deployment-topology.md", "docs/decisions/0002-deployment-topology.md"),
    ("tests/policies/test_catalogue.py fails when it drifts", "tests/policies/test_catalogue.py"),
    ("policies/config/<stack>.toml", "policies/config/<stack>.toml"),
])
def test_the_path_check_finds_dead_paths(text, dead):
    assert [named for named in named_paths(text) if not exists(named)] == [dead]


def test_readme_configuration_table_is_generated_from_the_model():
    readme = (ROOT / "README.md").read_text()
    assert config_docs.render(readme, config_docs.table()) == readme, (
        "README.md's configuration table differs from the stack config model; run `make config-docs`"
    )


def test_every_layer_the_program_declares_is_in_the_readme_layer_table(stack_recording):
    """The table under `## Layers` lists each layer's component, for every component type the stacks declare."""
    declared = {
        tuple(resource.type.split(":")[1:])
        for stack in ("dev", "prod")
        for resource in stack_recording(stack)
        if not resource.custom and resource.type.startswith("dataplatform:")
        and resource.type != "dataplatform:platform:DataPlatform"
        and resource.parent.split("::")[-2].split("$")[-1] == "dataplatform:platform:DataPlatform"
    }
    section = (ROOT / "README.md").read_text().split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    rows = {tuple(cell.strip(" `") for cell in line.split("|")[1:3])
            for line in section.splitlines() if line.startswith("| ") and not line.startswith("| layer")}
    assert declared <= rows, f"missing from the README's layer table: {sorted(declared - rows)}"
