"""Config mutants: every leaf of the stack files and of the catalog, broken the ways users break them.

    python -m infra.offline.mutants             every mutant validated, every accepted one planned (make config-mutants)
    python -m infra.offline.mutants --plan 10 --seed 7  plan a seeded sample of the accepted ones instead
    python -m infra.offline.mutants --match 'sources.api'  only the mutants whose description matches

A stack mutant changes one setting of `Pulumi.<stack>.yaml`: each key the file holds, and each key the stage
defaults or the model's defaults fill in (written into the file, as a user would). A catalog mutant changes one key
of `infra/dataflow.yaml` (or drops one named item) and is judged with each stack. The ways: a value of the wrong
type, an empty one, a negative number, an unknown word, the key deleted.

Each mutant goes through the one validator (infra/model/inputs.py) as the plan reads it: the model must either accept it
or refuse it with a ConfigError that names the mutated key; any other exception is a crash. An accepted mutant must
plan: `infra.offline.plan.run` exits 0 (clean) or 1 (a mandatory policy says no), never 2 and never with a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
import types
import typing
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from infra.model import catalog as catalog_module
from infra.model import yamlio
from infra.model.config import PROJECT, StackConfig, parse_stack_config, project_values
from infra.model.errors import ConfigError, key_path, shown
from infra.model.inputs import validate_inputs
from infra.model.stackfiles import REPO_ROOT, load_stack

if TYPE_CHECKING:
    from infra.offline.harness import Recording

STACKS = ("dev", "prod")
CATALOG_FILE = "infra/dataflow.yaml"


class _Deleted:
    """The value of a deleted key (one instance, kept across processes)."""

    def __repr__(self) -> str:
        return "<deleted>"

    def __reduce__(self) -> str:
        return "DELETED"


DELETED: Any = _Deleted()
SEED_VARIABLE = "CONFIG_MUTANTS_SEED"

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Mutant:
    """One broken input: which file, the key as messages name it, how it was broken, and the documents to judge."""

    file: str
    stack: str
    path: str
    kind: str
    value: Any
    stack_document: dict[str, Any]
    catalog_document: dict[str, Any] | None = None
    also: tuple[str, ...] = ()
    """Other names a refusal may give the key: the list of a changed item, a nameless item by its position."""
    renamed: str | None = None
    """For a changed or dropped `name`: the item's old name, which a message may name instead of the key."""

    @property
    def label(self) -> str:
        value = "" if self.value is DELETED else f" = {shown(self.value)}"
        judged = f" (judged with Pulumi.{self.stack}.yaml)" if self.file == CATALOG_FILE else ""
        return f"{self.file}: {self.path}: {self.kind}{value}{judged}"

    def named_in(self, message: str) -> bool:
        """Whether a refusal's message names the mutated key (or, for a renamed item, its old name)."""
        for line in message.splitlines():
            # Rules that span keys name the others without the namespace (`storage.backend`).
            paths = (self.path, *self.also)
            if any(_names(line, path) or _names(line, path.removeprefix(f"{PROJECT}:")) for path in paths):
                return True
            if self.renamed and re.search(rf"[`'\[.]{re.escape(self.renamed)}[`'\]., :]", line + " "):
                return True
        return False


def _names(line: str, path: str) -> bool:
    """`path` appears in `line` as a whole key: not as the start of a longer one (`a.b` is not in `a.bc`)."""
    return re.search(rf"(^|[\s`:(]){re.escape(path)}($|[\s`:.\[),])", line) is not None


def alternatives(loc: Loc, document: Any, prefix: str = "") -> tuple[str, ...]:
    """What else a message may call the key at `loc`: the list holding a changed item; a renamed item by position."""
    found = []
    if loc and isinstance(loc[-1], int):
        found.append(prefix + key_path(loc[:-1], document))
    if len(loc) >= 2 and loc[-1] == "name" and isinstance(loc[-2], int):
        found.append(prefix + key_path(loc[:-2], document) + f"[{loc[-2]}].name")
    return tuple(found)


def _field_type(annotation: Any, key: str | int) -> Any:
    """The type of `key` inside a value of type `annotation` (a model's field by its alias, a mapping's value, a
    list's item); None where the model does not say."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            present = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            annotation = present[0] if len(present) == 1 else None
        else:
            break
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if key in (name, info.alias):
                return info.annotation
        return None
    if origin is dict:
        return typing.get_args(annotation)[1]
    if origin in (list, tuple):
        return typing.get_args(annotation)[0]
    return None


def is_mapping_of_names(loc: Loc, model: Any = StackConfig) -> bool:
    """Whether the model's type at `loc` is a mapping whose keys the user chooses (labels, readers by name), not a
    section whose keys are the model's fields."""
    annotation = model
    for part in loc:
        annotation = _field_type(annotation, part)
        if annotation is None:
            return False
    while typing.get_origin(annotation) in (typing.Annotated, typing.Union, types.UnionType):
        present = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(present) != 1:
            return False
        annotation = present[0]
    return typing.get_origin(annotation) is dict


def emptied_mapping(loc: Loc, mutated: Any, prefix: str = "") -> tuple[str, ...]:
    """A deleted entry that empties a mapping of names: a refusal may name the mapping now empty (`podLabels`
    refused for having no label left), since the deleted key is no longer there to name."""
    parent = loc[:-1]
    if parent and contains(mutated, parent) and get(mutated, parent) == {} and is_mapping_of_names(parent):
        return (prefix + key_path(parent, mutated),)
    return ()


def breakages(value: Any) -> list[tuple[str, Any]]:
    """The ways a leaf is broken: (kind, new value), leaving out any that would not change it."""
    if isinstance(value, bool):
        found = [("wrong-type", 42), ("empty", ""), ("unknown-word", "maybe")]
    elif isinstance(value, int | float):
        found = [("wrong-type", "forty-two"), ("empty", ""), ("negative", -1)]
    elif isinstance(value, str):
        found = [("wrong-type", 42), ("empty", ""), ("unknown-word", "no-such-value")]
    elif isinstance(value, list):
        found = [("wrong-type", "not-a-list"), ("empty", []), ("unknown-word", ["no-such-value"])]
    elif value is None:
        found = [("wrong-type", 42), ("empty", ""), ("negative", -1), ("unknown-word", "no-such-value")]
    else:
        found = [("wrong-type", "not-a-mapping"), ("empty", {})]
    return [(kind, new) for kind, new in found if new != value or type(new) is not type(value)]


def secure(value: Any) -> bool:
    """A value `pulumi config set --secret` wrote (`{secure: <ciphertext>}`): one setting, a leaf."""
    return isinstance(value, dict) and set(value) == {"secure"}


def leaves(node: Any, loc: Loc = ()) -> Iterator[tuple[Loc, Any]]:
    """Every leaf below `node`: scalars, lists of scalars and their items, empty mappings, encrypted values; lists of
    mappings by item."""
    if isinstance(node, dict) and node and not secure(node):
        for key, value in node.items():
            yield from leaves(value, (*loc, key))
    elif isinstance(node, list) and node and all(isinstance(item, dict) for item in node):
        for index, item in enumerate(node):
            yield from leaves(item, (*loc, index))
    else:
        yield loc, node
        if isinstance(node, list):
            for index, item in enumerate(node):
                yield (*loc, index), item


def named_items(node: Any, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Every list item with a `name`: (its location, its name)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from named_items(value, (*loc, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                yield (*loc, index), item["name"]
            yield from named_items(item, (*loc, index))


def get(node: Any, loc: Loc) -> Any:
    for part in loc:
        node = node[part]
    return node


def contains(node: Any, loc: Loc) -> bool:
    for part in loc:
        inside = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node))
        if not inside:
            return False
        node = node[part]
    return True


def put(node: Any, loc: Loc, value: Any, template: Any) -> None:
    """Set (or, with DELETED, remove) `loc` in `node`. A mapping missing on the way is created empty; a list missing
    on the way is copied whole from `template`, since one of its items cannot be written alone."""
    for depth, part in enumerate(loc[:-1]):
        if isinstance(node, dict) and part not in node:
            missing = get(template, loc[: depth + 1])
            node[part] = copy.deepcopy(missing) if isinstance(missing, list) else {}
        node = node[part]
    if value is DELETED:
        del node[loc[-1]]
    else:
        node[loc[-1]] = value


# ---- the mutants ---------------------------------------------------------------------------------------------------


def stack_mutants(stack: str, root: Path = REPO_ROOT) -> list[Mutant]:
    """Every setting of `stack` broken each way: keys of its file, and keys its stage and the model default."""
    document = yamlio.load((root / f"Pulumi.{stack}.yaml").read_text())
    settings = load_stack(stack, root)
    effective = parse_stack_config(project_values(settings.config), stack).model_dump(by_alias=True, mode="json")
    in_file = {key.removeprefix(f"{PROJECT}:"): value for key, value in document["config"].items()}
    found = []
    for loc, value in leaves(effective):
        present = contains(in_file, loc)
        given = get(in_file, loc) if present else value
        # An encrypted value reaches the model as a string (the offline placeholder): broken as one, in plain text.
        ways = breakages("secret" if secure(given) else given)
        if present:
            ways.append(("deleted", DELETED))
        for kind, new in ways:
            mutated_view = copy.deepcopy(in_file)
            put(mutated_view, loc, new, effective)
            merged = copy.deepcopy(effective)
            put(merged, loc, new, effective)
            renamed = str(value) if loc[-1] == "name" else None
            found.append(Mutant(
                file=f"Pulumi.{stack}.yaml", stack=stack, path=f"{PROJECT}:{key_path(loc, merged)}", kind=kind,
                value=new, stack_document={**document, "config": {f"{PROJECT}:{key}": item for key, item in
                                                                  mutated_view.items()}},
                also=(*alternatives(loc, merged, f"{PROJECT}:"),
                      *(emptied_mapping(loc, merged, f"{PROJECT}:") if new is DELETED else ())),
                renamed=renamed))
    return found


def catalog_mutants(stacks: tuple[str, ...] = STACKS, root: Path = REPO_ROOT) -> list[Mutant]:
    """Every key of the catalog broken each way, and every named item dropped, judged with each stack."""
    document = yamlio.load(catalog_module.CATALOG_PATH.read_text())
    stack_documents = {stack: yamlio.load((root / f"Pulumi.{stack}.yaml").read_text()) for stack in stacks}
    changes: list[tuple[Loc, str, Any, str | None]] = []
    for loc, value in leaves(document):
        if not loc:
            continue
        for kind, new in [*breakages(value), ("deleted", DELETED)]:
            changes.append((loc, kind, new, str(value) if loc[-1] == "name" else None))
    for loc, name in named_items(document):
        changes.append((loc, "deleted", DELETED, name))
    found = []
    for loc, kind, new, renamed in changes:
        mutated = copy.deepcopy(document)
        put(mutated, loc, new, document)
        named = document if new is DELETED else mutated
        path, also = key_path(loc, named), alternatives(loc, named)
        for stack in stacks:
            found.append(Mutant(file=CATALOG_FILE, stack=stack, path=path, kind=kind, value=new,
                                stack_document=stack_documents[stack], catalog_document=mutated, also=also,
                                renamed=renamed))
    return found


def all_mutants(root: Path = REPO_ROOT) -> list[Mutant]:
    return [*(mutant for stack in STACKS for mutant in stack_mutants(stack, root)), *catalog_mutants(STACKS, root)]


# ---- judging and planning ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    mutant: Mutant
    outcome: str
    """`refused` (a ConfigError), `accepted`, or `crash` (any other exception, or a refusal that names no key)."""
    detail: str = ""


class Workspace:
    """A project folder holding one mutant's files at a time, as `make plan --root` would read them."""

    def __init__(self, folder: Path, root: Path = REPO_ROOT) -> None:
        self.folder = folder
        self.project = folder / "project"
        self.project.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "Pulumi.yaml", self.project / "Pulumi.yaml")
        self.catalog = folder / "dataflow.yaml"
        self._written: dict[Path, int] = {}
        self._documents: list[Any] = []  # keeps written documents alive, so their ids stay theirs

    def write(self, mutant: Mutant) -> Path:
        """Write the mutant's files (each only when it changed); return the catalog it is judged with."""
        self._write(self.project / f"Pulumi.{mutant.stack}.yaml", mutant.stack_document)
        if mutant.catalog_document is None:
            return catalog_module.CATALOG_PATH
        self._write(self.catalog, mutant.catalog_document)
        return self.catalog

    def _write(self, path: Path, document: Any) -> None:
        if self._written.get(path) != id(document):
            path.write_text(yamlio.dump(document, sort_keys=False))
            self._written[path] = id(document)
            self._documents = [*self._documents[-7:], document]


def judge(mutant: Mutant, workspace: Workspace) -> Verdict:
    """Validate the mutant in-process, exactly as the plan does before it runs the program."""
    catalog = workspace.write(mutant)
    try:
        settings = load_stack(mutant.stack, workspace.project)
        # The stack file's encrypted keys and leaves, as the plan validates them: a secret written in plain text
        # is refused here too.
        validate_inputs(project_values(settings.config, PROJECT), mutant.stack, catalog,
                        secret_keys=settings.secret_keys, secret_paths=settings.secret_paths)
    except ConfigError as error:
        message = str(error)
        if not mutant.named_in(message):
            return Verdict(mutant, "crash", f"refused without naming {mutant.path}:\n{message}")
        return Verdict(mutant, "refused", message)
    except Exception:  # any other exception is what this looks for
        return Verdict(mutant, "crash", traceback.format_exc())
    return Verdict(mutant, "accepted")


@contextlib.contextmanager
def catalog_at(path: Path) -> Iterator[None]:
    """The program reads the catalog from `path` for the duration."""
    saved = catalog_module.CATALOG_PATH
    catalog_module.CATALOG_PATH = path
    try:
        yield
    finally:
        catalog_module.CATALOG_PATH = saved


def record(mutant: Mutant, workspace: Workspace) -> Recording:
    """Run the program (no gate) on an accepted mutant's files: what it would declare. The security mutation suite
    (infra/offline/security_mutants) judges such recordings with one long-lived pack."""
    from infra.offline.harness import run_program
    from infra.program import main as program

    catalog = workspace.write(mutant)
    settings = load_stack(mutant.stack, workspace.project)
    with catalog_at(catalog):
        return run_program(program, settings)


def plan(mutant: Mutant, workspace: Workspace) -> tuple[int | None, str]:
    """Run the whole plan (program and policy gate) on an accepted mutant: (exit code or None on a crash, output)."""
    from infra.offline import plan as offline_plan
    catalog = workspace.write(mutant)
    output = io.StringIO()
    try:
        with catalog_at(catalog), contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = offline_plan.run(mutant.stack, workspace.folder / "plans", preview=False, quiet=True,
                                    root=workspace.project)
    except Exception:  # a traceback is what this looks for
        return None, output.getvalue() + traceback.format_exc()
    return code, output.getvalue()


def seed_from_environment() -> int:
    """The sample's seed: $CONFIG_MUTANTS_SEED, else a fresh one (printed by the callers, so a run can be repeated)."""
    return int(os.environ.get(SEED_VARIABLE) or random.SystemRandom().randrange(1, 2**31))


# ---- the command ---------------------------------------------------------------------------------------------------


def _plan_all(accepted: list[Mutant], jobs: int) -> list[tuple[Mutant, int | None, str]]:
    if jobs <= 1 or len(accepted) < 2:
        with tempfile.TemporaryDirectory(prefix="mutants-") as folder:
            workspace = Workspace(Path(folder))
            return [(mutant, *plan(mutant, workspace)) for mutant in accepted]
    import multiprocessing

    chunks = [accepted[index::jobs] for index in range(jobs)]
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        results = pool.map(_plan_chunk, chunks)
    return [result for chunk in results for result in chunk]


def _plan_chunk(chunk: list[Mutant]) -> list[tuple[Mutant, int | None, str]]:
    with tempfile.TemporaryDirectory(prefix="mutants-") as folder:
        workspace = Workspace(Path(folder))
        return [(mutant, *plan(mutant, workspace)) for mutant in chunk]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", type=int, default=None, help="plan a seeded sample of this many accepted mutants "
                                                                "(default: all of them)")
    parser.add_argument("--seed", type=int, default=None, help=f"sample seed (default: ${SEED_VARIABLE} or random)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes that plan")
    parser.add_argument("--match", default="", help="only the mutants whose description matches this regex")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    mutants = [mutant for mutant in all_mutants() if re.search(args.match, mutant.label)]
    with tempfile.TemporaryDirectory(prefix="mutants-") as folder:
        workspace = Workspace(Path(folder))
        verdicts = [judge(mutant, workspace) for mutant in mutants]
    outcomes = Counter(verdict.outcome for verdict in verdicts)
    accepted = [verdict.mutant for verdict in verdicts if verdict.outcome == "accepted"]
    sample = accepted
    if args.plan is not None:
        seed = args.seed if args.seed is not None else seed_from_environment()
        print(f"config mutants: planning {min(args.plan, len(accepted))} of {len(accepted)} accepted, seed {seed} "
              f"(repeat with --seed {seed} or {SEED_VARIABLE}={seed})")
        sample = random.Random(seed).sample(accepted, min(args.plan, len(accepted)))
    planned = _plan_all(sample, args.jobs)
    codes = Counter(code for _, code, _ in planned)
    crashes = [(verdict.mutant, verdict.detail) for verdict in verdicts if verdict.outcome == "crash"]
    crashes += [(mutant, f"plan exited {code}:\n{output}") for mutant, code, output in planned if code not in (0, 1)]
    for mutant, detail in crashes:
        print(f"CRASH {mutant.label}\n    " + detail.strip().replace("\n", "\n    "))
    by_file = Counter(mutant.file for mutant in mutants)
    print(f"config mutants: {len(mutants)} ({', '.join(f'{count} of {file}' for file, count in by_file.items())})")
    print(f"  refused with exit 2 (ConfigError naming the key): {outcomes['refused']}")
    print(f"  accepted: {len(accepted)}; planned {len(planned)}: exit 0 {codes[0]}, exit 1 (mandatory policy) "
          f"{codes[1]}")
    print(f"  crashes: {len(crashes)}  ({time.perf_counter() - started:.0f} s)")
    return 1 if crashes else 0


if __name__ == "__main__":
    # Through the importable module, so the objects handed to the planning processes are the same ones there.
    from infra.offline.mutants import main as run

    sys.exit(run())
