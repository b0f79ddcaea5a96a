"""Checks SQL meant for Dremio against what Dremio's own source defines, as far as it can without a Dremio server.

Four checks per statement, each with what it rests on:
- it parses with sqlglot's `dremio` dialect: a real SQL parser, but sqlglot's reading of Dremio, not Dremio's
  JavaCC grammar (sabot/grammar in dremio-oss builds on Calcite's Parser.jj, which needs Dremio's Calcite fork to
  generate; that is not done here). A statement sqlglot only keeps as an opaque command must be one of
  `DREMIO_COMMANDS`, each tied to the grammar production that accepts it;
- every function it calls is one Dremio registers: `dremio_functions.txt` beside this file, a list of names
  extracted from dremio-oss at `OSS_COMMIT` (`functions_in_source`): the function specs Dremio's SQL runner
  serves (services/functions/.../function_specs), the `@FunctionTemplate` names of its Java functions and the
  `funcName` entries of its code-generation data. Dremio's Gandiva functions are not in that source; a name
  missing from the list is an error until the list says otherwise;
- no `x::type` cast, which sqlglot reads in every dialect and neither grammar defines;
- no unquoted identifier is a word Dremio's parser reserves (`dremio_keywords.txt`). Dremio's grammar is Calcite's
  Parser.jj with Dremio's additions (sabot/grammar/pom.xml unpacks it from calcite-core), and Parser.jj says "anything
  in this list [its keyword tokens] is a reserved word unless it appears in the NonReservedKeyWord() production",
  which lists the `nonReservedKeywords` of Dremio's Parser.tdd. So the list is Calcite's keyword tokens (upstream
  Calcite at `CALCITE_TAG`, the release Dremio's fork `1.21.0-202408272207160933-20207fef`, pinned in dremio-oss's
  pom.xml, is based on; the fork's own patches are not public) plus Parser.tdd's `keywords`, less its
  `nonReservedKeywords`.

The two lists are facts (names) taken from the vendors' source; `write_facts` regenerates them and the test
compares them when checkouts are at hand (VENDOR_SOURCES/dremio+dremio-oss/repo and
VENDOR_SOURCES/apache+calcite/repo, git directories).
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
CALCITE_TAG = "calcite-1.21.0"
CALCITE_PARSER = "core/src/main/codegen/templates/Parser.jj"

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

# Clauses of Dremio's CREATE TABLE that sqlglot does not read: checked here (their form, and their tokens in the
# grammar by `commands_in_grammar`), then left out so that sqlglot checks the rest of the statement. A clause of
# another form stays in, and sqlglot refuses the statement.
DREMIO_CLAUSES: dict[str, tuple[re.Pattern[str], str, tuple[str, ...]]] = {
    # dbt-dremio's store_as_clause (macros/materializations/table/create_table_as.sql), from a model's `format`;
    # parserImpls.ftl's CREATE TABLE ... [STORE AS (Arg0 [, Arg]*)]: named arguments `name => 'value'`.
    "create table store as": (
        re.compile(r"^(create table (?:\"[^\"]+\"\.)*\"[^\"]+\" )store as \( ?\w+ ?=> ?'[^']*'"
                   r"(?: ?, ?\w+ ?=> ?'[^']*')* ?\) (as \()", re.IGNORECASE),
        "parserImpls.ftl", ("<CREATE>", "<TABLE>", "<STORE> <AS>", "<LPAREN>", "Arg0(formatList", "<RPAREN>")),
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


# Calcite's TimestampInterval(): the unit TIMESTAMPADD and TIMESTAMPDIFF take first, a keyword, not a name.
TIME_UNITS = {"YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND", "MICROSECOND", "FRAC_SECOND"}


def _time_unit_argument(identifier: exp.Identifier) -> bool:
    column = identifier.parent
    return (isinstance(column, exp.Column) and isinstance(column.parent, exp.TimestampDiff | exp.TimestampAdd)
            and column.arg_key == "this" and identifier.name.upper() in TIME_UNITS)


def check_statement(sql: str, functions: set[str], keywords: set[str]) -> list[Problem]:
    label = _statement_label(sql)
    body = " ".join(_strip_comments(sql).rstrip().rstrip(";").split())
    for pattern, _include, _tokens in DREMIO_CLAUSES.values():
        body = pattern.sub(r"\1\2", body)  # the clause out, the statement around it kept
    try:
        parsed = sqlglot.parse(body, read="dremio", error_level=sqlglot.ErrorLevel.RAISE)
    except (ParseError, TokenError) as error:
        return [Problem(label, f"does not parse as Dremio SQL: {str(error).splitlines()[0]}")]
    problems = []
    for tree in parsed:
        if tree is None:
            continue
        if isinstance(tree, exp.Command):
            if not any(pattern.match(body) for pattern, _, _ in DREMIO_COMMANDS.values()):
                problems.append(Problem(label, "a statement no checked Dremio grammar production accepts"))
            continue
        for identifier in tree.find_all(exp.Identifier):
            if _time_unit_argument(identifier):
                continue
            if not identifier.quoted and identifier.name.upper() in keywords:
                problems.append(Problem(label, f"`{identifier.name}` is a reserved word in Dremio: quote it"))
    if any(token.token_type == TokenType.DCOLON for token in sqlglot.tokenize(body, read="dremio")):
        # sqlglot reads `x::type` in any dialect; neither Calcite's Parser.jj (CALCITE_TAG) nor Dremio's grammar
        # defines a "::" token.
        problems.append(Problem(label, "`x::type` is not Dremio SQL: write cast(x as type)"))
    for name in function_calls(body):
        if name.upper() not in functions:
            problems.append(Problem(label, f"calls {name}(), which Dremio does not register"))
    return problems


# ---- the facts, from Dremio's source -------------------------------------------------------------------------

def vendor_git_dir(owner_name: str) -> Path | None:
    """The git directory VENDOR_SOURCES/<owner>+<name>/repo, or None when there is none."""
    root = os.environ.get("VENDOR_SOURCES")
    if not root:
        return None
    path = Path(root) / owner_name / "repo"
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


def reserved_keywords_in_source(oss: Path, calcite: Path) -> set[str]:
    tdd = _git(oss, "show", f"{OSS_COMMIT}:{GRAMMAR}/data/Parser.tdd")
    parser = _git(calcite, "show", f"{CALCITE_TAG}:{CALCITE_PARSER}")
    block = parser.split("/* KEYWORDS:", 1)[1].split("}", 1)[0]
    calcite_keywords = set(re.findall(r'<\s*[A-Z_0-9]+\s*:\s*"([A-Z_0-9]+)"\s*>', block))
    if len(calcite_keywords) < 500:
        raise ValueError(f"{CALCITE_PARSER} at {CALCITE_TAG}: only {len(calcite_keywords)} keyword tokens found")
    return (calcite_keywords | _tdd_list(tdd, "keywords")) - _tdd_list(tdd, "nonReservedKeywords")


def commands_in_grammar(git_dir: Path, commit: str = OSS_COMMIT) -> list[str]:
    """The DREMIO_COMMANDS and DREMIO_CLAUSES whose tokens do not appear, in order, in their grammar include
    (empty: all do)."""
    missing = []
    for name, (_pattern, include, tokens) in {**DREMIO_COMMANDS, **DREMIO_CLAUSES}.items():
        text = " ".join(_git(git_dir, "show", f"{commit}:{GRAMMAR}/includes/{include}").split())
        position = 0
        for token in tokens:
            position = text.find(token, position)
            if position < 0:
                missing.append(f"{name}: {token} not found in order in {include}")
                break
    return missing


def write_facts(oss: Path, calcite: Path) -> None:
    """Regenerates the two fact lists from checkouts of dremio-oss and Calcite."""
    for path, names, what in (
            (FUNCTIONS_FILE, functions_in_source(oss), f"functions Dremio registers (dremio-oss {OSS_COMMIT})"),
            (KEYWORDS_FILE, reserved_keywords_in_source(oss, calcite),
             f"words Dremio's parser reserves (dremio-oss {OSS_COMMIT}, Calcite {CALCITE_TAG})")):
        path.write_text(f"# The {what}.\n"
                        "# tests/support/dremio_sql.py says how; regenerate with\n"
                        "# VENDOR_SOURCES=<dir> .venv/bin/python -m tests.support.dremio_sql\n"
                        + "".join(f"{name}\n" for name in sorted(names)))


if __name__ == "__main__":
    sources = vendor_git_dir("dremio+dremio-oss"), vendor_git_dir("apache+calcite")
    if None in sources:
        raise SystemExit("set VENDOR_SOURCES to a folder holding dremio+dremio-oss/repo and apache+calcite/repo "
                         "(git directories)")
    write_facts(*sources)
