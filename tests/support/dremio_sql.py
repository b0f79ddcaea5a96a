"""Checks SQL meant for Dremio against what Dremio's own source defines, as far as it can without a Dremio server.

Three checks per statement, each with what it rests on:
- it parses with sqlglot's `dremio` dialect: a real SQL parser, but sqlglot's reading of Dremio, not Dremio's
  JavaCC grammar (sabot/grammar in dremio-oss builds on Calcite's Parser.jj, which needs Dremio's Calcite fork to
  generate; that is not done here). A statement sqlglot only keeps as an opaque command must be one of
  `DREMIO_COMMANDS`, each tied to the grammar production that accepts it;
- every function it calls is one Dremio registers: `dremio_functions.txt` beside this file, a list of names
  extracted from dremio-oss at `OSS_COMMIT` (`functions_in_source`): the function specs Dremio's SQL runner
  serves (services/functions/.../function_specs), the `@FunctionTemplate` names of its Java functions and the
  `funcName` entries of its code-generation data. Dremio's Gandiva functions are not in that source; a name
  missing from the list is an error until the list says otherwise;
- no unquoted identifier is a keyword Dremio's grammar adds as reserved (`dremio_keywords.txt`: the `keywords`
  of sabot/grammar's Parser.tdd less its `nonReservedKeywords`). Calcite's own reserved words come with
  Calcite's Parser.jj, which dremio-oss does not hold; sqlglot refuses the common ones.

The two lists are facts (names) taken from the vendor's source; `read_facts` and `*_in_source` regenerate and
compare them when a checkout of dremio-oss is at hand (VENDOR_SOURCES/dremio+dremio-oss/repo, a git directory).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from tests.support.dremio_server import OSS_COMMIT

HERE = Path(__file__).resolve().parent
FUNCTIONS_FILE = HERE / "dremio_functions.txt"
KEYWORDS_FILE = HERE / "dremio_keywords.txt"
GRAMMAR = "sabot/grammar/src/main/codegen"

# Statements sqlglot keeps as opaque commands: each with the grammar include of sabot/grammar that accepts it (at
# OSS_COMMIT) and the tokens its production reads, in order; `commands_in_grammar` finds them there.
DREMIO_COMMANDS: dict[str, tuple[re.Pattern[str], str, tuple[str, ...]]] = {
    # dbt-dremio's refresh_metadata after each table it writes (macros/materializations/table/alter_pds.sql);
    # alter.ftl's ALTER (TABLE | VDS | VIEW | PDS | DATASET) <name> REFRESH METADATA ... -> SqlRefreshTable.
    "alter pds refresh metadata": (
        re.compile(r'^alter\s+pds\s+(?:"[^"]+"\.)*"[^"]+"\s+refresh\s+metadata\s+auto\s+promotion\s+force\s+'
                   r'update\s+delete\s+when\s+missing$', re.IGNORECASE),
        "alter.ftl", ("<ALTER>", "<PDS>", "<REFRESH> <METADATA>", "<AUTO> <PROMOTION>", "<FORCE> <UPDATE>",
                      "<DELETE> <WHEN> <MISSING>", "SqlRefreshTable")),
}

# Tokens that open a parenthesis without being a function call.
NOT_CALLS = {TokenType.ALIAS, TokenType.IN, TokenType.OVER, TokenType.VALUES, TokenType.EXISTS, TokenType.FROM,
             TokenType.JOIN, TokenType.AND, TokenType.OR, TokenType.ON, TokenType.NOT, TokenType.WHEN,
             TokenType.THEN, TokenType.ELSE, TokenType.SELECT, TokenType.WHERE, TokenType.USING, TokenType.INTO,
             TokenType.UNION, TokenType.ALL, TokenType.WITH, TokenType.L_PAREN, TokenType.COMMA,
             TokenType.TABLE, TokenType.VIEW, TokenType.INSERT, TokenType.DISTINCT}


@dataclass(frozen=True)
class Problem:
    statement: str  # the statement's first line, to say which one
    message: str

    def __str__(self) -> str:
        return f"{self.statement!r}: {self.message}"


def read_facts(path: Path) -> set[str]:
    return {line.strip().upper() for line in path.read_text().splitlines() if line.strip()
            and not line.startswith("#")}


def _statement_label(sql: str) -> str:
    body = _strip_comments(sql)
    return " ".join(body.split())[:100]


def _strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return "\n".join(line.split("--", 1)[0] if "--" in line and "'" not in line.split("--", 1)[0] else line
                     for line in sql.splitlines()).strip()


def function_calls(sql: str) -> list[str]:
    """The names of the functions `sql` calls, as written (a word followed by `(`, not a type, keyword or quoted
    name)."""
    tokens = sqlglot.tokenize(sql, read="dremio")
    found = []
    for before, token, after in zip([None, *tokens[:-1]], tokens, [*tokens[1:], None], strict=True):
        if after is None or after.token_type != TokenType.L_PAREN or token.token_type in NOT_CALLS:
            continue
        if token.token_type == TokenType.IDENTIFIER or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token.text):
            continue  # a quoted name (a table's column list), a value or an operator (`x >= (select ...)`)
        if token.token_type in sqlglot.parser.Parser.TYPE_TOKENS and (before is None or
                                                                     before.token_type == TokenType.ALIAS):
            continue  # cast(x as decimal(12, 2))
        if before is not None and before.token_type == TokenType.DOT:
            continue
        found.append(token.text)
    return found


def check_statement(sql: str, functions: set[str], keywords: set[str]) -> list[Problem]:
    label = _statement_label(sql)
    body = _strip_comments(sql).rstrip().rstrip(";")
    try:
        parsed = sqlglot.parse(body, read="dremio", error_level=sqlglot.ErrorLevel.RAISE)
    except (ParseError, TokenError) as error:
        return [Problem(label, f"does not parse as Dremio SQL: {str(error).splitlines()[0]}")]
    problems = []
    for tree in parsed:
        if tree is None:
            continue
        if isinstance(tree, exp.Command):
            text = " ".join(body.split())
            if not any(pattern.match(text) for pattern, _, _ in DREMIO_COMMANDS.values()):
                problems.append(Problem(label, "a statement no checked Dremio grammar production accepts"))
            continue
        for identifier in tree.find_all(exp.Identifier):
            if not identifier.quoted and identifier.name.upper() in keywords:
                problems.append(Problem(label, f"`{identifier.name}` is a reserved word in Dremio: quote it"))
    for name in function_calls(body):
        if name.upper() not in functions:
            problems.append(Problem(label, f"calls {name}(), which Dremio does not register"))
    return problems


# ---- the facts, from Dremio's source -------------------------------------------------------------------------

def oss_git_dir() -> Path | None:
    """A git directory holding dremio-oss (VENDOR_SOURCES/dremio+dremio-oss/repo), or None."""
    root = os.environ.get("VENDOR_SOURCES")
    if not root:
        return None
    path = Path(root) / "dremio+dremio-oss" / "repo"
    return path if path.is_dir() else None


def _git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True, check=True,
                          timeout=300).stdout


def functions_in_source(git_dir: Path, commit: str = OSS_COMMIT) -> set[str]:
    names = set()
    specs = _git(git_dir, "ls-tree", "-r", "--name-only", commit,
                 "services/functions/src/main/resources/function_specs")
    names |= {Path(line).stem.upper() for line in specs.splitlines() if line.endswith(".yaml")}
    grep = _git(git_dir, "grep", "-h", "-A12", "@FunctionTemplate", commit, "--", "*.java")
    for block in grep.split("@FunctionTemplate")[1:]:
        head = block.split(")", 1)[0] if "names" not in block.split(")", 1)[0] else block.split("}", 1)[0]
        for name in re.findall(r'\bname\s*=\s*"([^"$]+)"', head):
            names.add(name.upper())
        for listed in re.findall(r"\bnames\s*=\s*\{([^}]*)", block.split("}", 1)[0] + "}"):
            names |= {name.upper() for name in re.findall(r'"([^"$]+)"', listed)}
    tdd = _git(git_dir, "grep", "-h", "-o", r'funcName: *"[^"]*"', commit, "--",
               "sabot/kernel/src/main/codegen/data/*.tdd")
    names |= {match.upper() for match in re.findall(r'"([^"$]+)"', tdd)}
    return {name for name in names if re.fullmatch(r"[A-Z_][A-Z0-9_]*", name)}  # not the operators (`||`)


def _tdd_list(text: str, key: str) -> set[str]:
    block = re.search(rf"^\s*{key}:\s*\[(.*?)^\s*\]", text, flags=re.MULTILINE | re.DOTALL)
    if block is None:
        raise ValueError(f"Parser.tdd has no {key} list")
    return set(re.findall(r'"([A-Z_0-9]+)"', re.sub(r"#.*", "", block.group(1))))


def reserved_keywords_in_source(git_dir: Path, commit: str = OSS_COMMIT) -> set[str]:
    text = _git(git_dir, "show", f"{commit}:{GRAMMAR}/data/Parser.tdd")
    return _tdd_list(text, "keywords") - _tdd_list(text, "nonReservedKeywords")


def commands_in_grammar(git_dir: Path, commit: str = OSS_COMMIT) -> list[str]:
    """The DREMIO_COMMANDS whose tokens do not appear, in order, in their grammar include (empty: all do)."""
    missing = []
    for name, (_pattern, include, tokens) in DREMIO_COMMANDS.items():
        text = " ".join(_git(git_dir, "show", f"{commit}:{GRAMMAR}/includes/{include}").split())
        position = 0
        for token in tokens:
            position = text.find(token, position)
            if position < 0:
                missing.append(f"{name}: {token} not found in order in {include}")
                break
    return missing


def write_facts(git_dir: Path) -> None:
    """Regenerates the two fact lists from a dremio-oss checkout."""
    for path, names, what in ((FUNCTIONS_FILE, functions_in_source(git_dir), "functions Dremio registers"),
                              (KEYWORDS_FILE, reserved_keywords_in_source(git_dir), "reserved words Dremio adds")):
        path.write_text(f"# The {what}, from dremio-oss at {OSS_COMMIT}\n"
                        "# (tests/support/dremio_sql.py says how; regenerate with\n"
                        "#  VENDOR_SOURCES=<dir> python -m tests.support.dremio_sql).\n"
                        + "".join(f"{name}\n" for name in sorted(names)))


if __name__ == "__main__":
    found = oss_git_dir()
    if found is None:
        raise SystemExit("set VENDOR_SOURCES to a folder holding dremio+dremio-oss/repo (a git directory)")
    write_facts(found)
