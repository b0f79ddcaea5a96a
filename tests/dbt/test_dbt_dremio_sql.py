"""The SQL dbt sends to Dremio, rendered by dbt-dremio itself and checked against Dremio's grammar and functions.

No Dremio server runs here. dbt runs on the `dremio` target against the project's Dremio fake
(tests/support/dremio_server.py), which records every statement and runs none; so what is checked is exactly what
dbt-dremio's materializations, hooks, tests and freshness checks send, and nothing about what Dremio would answer.
Three runs: a first `dbt build` (nothing exists yet: CREATE TABLE AS, CREATE VIEW), a second `dbt build` with
every relation in place (the incremental model's MERGE through its temporary table), and `dbt source freshness`.
Reflection models are left out: dbt-dremio creates them through the REST API (`/api/v3/reflection`), no SQL.

Each statement is checked by tests/support/dremio_sql.py: parsed by sqlglot's `dremio` dialect (a real parser,
sqlglot's reading of Dremio; what it cannot read must have the form of a named production of Dremio's grammar),
function names against the list extracted from Dremio's source, unquoted names against the words Dremio's parser
reserves (Dremio's Parser.tdd with Calcite's Parser.jj), no `::` casts. With checkouts of dremio-oss and Calcite at
hand (VENDOR_SOURCES), the lists and productions are compared with the sources at the pinned commits; without them
that test skips and the committed lists stand. And a rule of Dremio's own beyond syntax: a table merged into is
Iceberg.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import pytest
import sqlglot
from support.dbt_workspace import REPO_ROOT, Workspace

from components.lakehouse.provider import s3_source
from tests.support import dremio_sql
from tests.support.dremio_server import ApiFailureError, FakeDremio
from tests.support.tls import make_pki

pytestmark = pytest.mark.integration
DBT_DIR = REPO_ROOT / "dbt"
USER, PASSWORD = "dbt", "dbt-build-1"
NOT_SQL = ["--exclude", "path:models/reflections"]  # REST, not SQL (see above)
TABLES = re.compile(r'from information_schema\."tables"\s+where ilike\(table_schema, \'([^\']*)\'\)', re.I)
COLUMNS = re.compile(r"from information_schema\.columns\s+where ilike\(table_schema, '([^']*)'\)\s+"
                     r"and ilike\(table_name, '([^']*)'\)", re.I)
DATA_TEST = re.compile(r"\bdbt_internal_test\b")
FRESHNESS = re.compile(r"\bmax_loaded_at\b")


class Rendered:
    """What dbt sent in each run, with the manifest of the first."""

    def __init__(self) -> None:
        self.runs: dict[str, list[str]] = {}
        self.manifest: dict = {}

    def statements(self) -> list[str]:
        return list(dict.fromkeys(sql for queries in self.runs.values() for sql in queries))


def _body(sql: str) -> str:
    """A statement without dbt's leading query comment, whitespace folded."""
    return " ".join(re.sub(r"^\s*/\*.*?\*/", "", sql, flags=re.DOTALL).split())


def passing_tests_and_fresh_sources(sql: str) -> list[dict] | None:
    if DATA_TEST.search(sql):  # dbt's test wrapper: count(*) as failures, ... as should_warn, ... as should_error
        return [{"failures": 0, "should_warn": False, "should_error": False}]
    if FRESHNESS.search(sql):
        return [{"max_loaded_at": "2026-12-04 01:00:00", "snapshotted_at": "2026-12-04 01:05:00"}]
    return None


def existing_relations(manifest: dict) -> Callable[[str], list[dict] | None]:
    """Answers dbt-dremio's catalog queries as Dremio would once the first build has written every relation."""
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["config"]["enabled"]
             and n["config"]["materialized"] in ("table", "incremental", "view")]

    def answer(sql: str) -> list[dict] | None:
        if found := TABLES.search(sql):
            return [{"table_catalog": n["database"], "table_name": n["alias"], "table_schema": n["schema"],
                     "table_type": "view" if n["config"]["materialized"] == "view" else "table"}
                    for n in nodes if f"{n['database']}.{n['schema']}".lower() == found.group(1).lower()]
        if found := COLUMNS.search(sql):
            name = found.group(2).removesuffix("__dbt_tmp")
            (node,) = [n for n in nodes if n["alias"] == name]
            columns = sqlglot.parse_one(node["compiled_code"], read="dremio").named_selects
            return [{"column_name": column, "data_type": "VARCHAR", "character_maximum_length": 65536,
                     "numeric_precision": None, "numeric_scale": None} for column in columns]
        return None

    return answer


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, dbt_venv) -> Iterator[Rendered]:
    root = tmp_path_factory.mktemp("dremio-sql")
    pki = make_pki(root / "pki")
    (root / "ca.pem").write_text(pki.ca_pem)
    result = Rendered()
    with FakeDremio.start(pki) as fake:
        fake._store_user({"name": USER, "password": PASSWORD})
        fake.sql_answers.append(passing_tests_and_fresh_sources)
        workspace = Workspace(root=root, extra_env={
            "DBT_DREMIO_HOST": "127.0.0.1", "DBT_DREMIO_PORT": fake.url.rsplit(":", 1)[1],
            "DBT_DREMIO_USER": USER, "DBT_DREMIO_PASSWORD": PASSWORD, "REQUESTS_CA_BUNDLE": str(root / "ca.pem")})

        def run(name: str, *args: str) -> None:
            before = len(fake.queries)
            workspace.dbt(*args, target="dremio")
            result.runs[name] = fake.queries[before:]

        run("first build", "build", *NOT_SQL)
        result.manifest = json.loads((root / "dbt" / "target" / "manifest.json").read_text())
        fake.sql_answers.insert(0, existing_relations(result.manifest))
        run("second build", "build", *NOT_SQL)
        run("source freshness", "source", "freshness")
        yield result


def models(manifest: dict, *materialized: str) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["config"]["enabled"]
            and n["config"]["materialized"] in materialized and not n["path"].startswith("reflections/")]


def relation(node: dict) -> str:
    return ".".join(f'"{part}"' for part in (node["database"], *node["schema"].split("."), node["alias"]))


def test_every_model_test_and_source_reaches_dremio(rendered):
    first, second = ([_body(sql) for sql in rendered.runs[run]] for run in ("first build", "second build"))
    for node in models(rendered.manifest, "table", "incremental"):
        assert f"create table {relation(node)}" in "\n".join(first), f"{node['name']}: no CREATE TABLE sent"
    for node in models(rendered.manifest, "view"):
        assert f"create or replace view {relation(node)}" in "\n".join(first), f"{node['name']}: no view sent"
    for node in models(rendered.manifest, "incremental"):
        merges = [sql for sql in second if sql.startswith(f"merge into {relation(node)}")]
        assert merges, f"{node['name']}: the second build sent no MERGE"
        temporary = re.search(r'using ((?:"[^"]+"\.)*"[^"]+") as DBT_INTERNAL_SOURCE', merges[0]).group(1)
        assert any(sql.startswith(f"create table {temporary}") for sql in second), \
            f"{node['name']}: the MERGE reads {temporary}, which no statement of the run creates"
    data_tests = [n for n in rendered.manifest["nodes"].values() if n["resource_type"] == "test"]
    for run in ("first build", "second build"):
        sent = [sql for sql in rendered.runs[run] if DATA_TEST.search(sql)]
        assert len(sent) == len(data_tests), f"{run}: {len(sent)} of {len(data_tests)} data tests sent"
    sources = rendered.manifest["sources"]
    assert len([sql for sql in rendered.runs["source freshness"] if FRESHNESS.search(sql)]) == len(sources)


def test_what_a_merge_writes_is_an_iceberg_table(rendered):
    """Dremio refuses DML (MERGE among it) on a table that is not Iceberg: "Table [...] is not configured to support
    DML operations" (IcebergUtils.checkTableExistenceAndMutability, dremio-oss at OSS_COMMIT). A CTAS without
    `store as (type=>'iceberg')` writes the source's defaultCtasFormat, which the platform sets to PARQUET."""
    default = s3_source("lake_write", "key", ["bucket"])["config"]["defaultCtasFormat"]
    first = [_body(sql) for sql in rendered.runs["first build"]]
    merged = {re.match(r"merge into ((?:\"[^\"]+\"\.)*\"[^\"]+\")", sql).group(1)
              for sql in (_body(sql) for sql in rendered.runs["second build"]) if sql.startswith("merge into")}
    assert merged
    for table in sorted(merged):
        (created,) = [sql for sql in first if sql.startswith(f"create table {table} ")]
        iceberg = re.match(rf"create table {re.escape(table)} store as \( ?type ?=> ?'iceberg'", created, re.I)
        assert iceberg or default == "ICEBERG", f"{table} is merged into but created as {default}: {created[:200]}"


def test_every_statement_is_dremio_sql(rendered):
    functions = dremio_sql.read_facts(dremio_sql.FUNCTIONS_FILE)
    keywords = dremio_sql.read_facts(dremio_sql.KEYWORDS_FILE)
    problems = [str(problem) for sql in rendered.statements()
                for problem in dremio_sql.check_statement(sql, functions, keywords)]
    assert not problems, "SQL dbt sends to Dremio that Dremio would refuse:\n" + "\n".join(problems)


def test_datediff_renders_as_dremio_documents_it(rendered):
    """macros/dremio.sql replaces dbt-dremio's datediff, whose output does not parse (see there)."""
    (customers,) = [sql for sql in rendered.runs["first build"]
                    if _body(sql).startswith('create or replace view "gold"."marts"."customers"')]
    assert re.search(r"TIMESTAMPDIFF\(DAY, min\(order_date\), max\(order_date\)\) as customer_lifespan_days",
                     _body(customers)), _body(customers)


def test_every_target_branch_is_rendered_for_dremio(rendered):
    """Each file that branches on target.type is a model (its Dremio SQL is what the runs above send) or a macro
    whose Dremio rendering is found among the statements sent."""
    statements = [_body(sql) for sql in rendered.statements()]
    macro_renderings = {
        # on-run-start: the bronze check is DuckDB's; on Dremio the hook is a bare `select 1`.
        "macros/lake.sql": lambda: "select 1" in statements,
        # the lake-stored materializations are DuckDB's; on Dremio the project's is_incremental() is dbt's own test
        # (the model's table exists), seen as the second build's MERGE.
        "macros/lake_storage.sql": lambda: any(_body(sql).startswith("merge into")
                                               for sql in rendered.runs["second build"]),
        # the names every relation above is written under (lake_write.<silver bucket>, gold.marts).
        "macros/schema_names.sql": lambda: all(
            any(relation(node) in sql for sql in statements) for node in models(
                rendered.manifest, "table", "incremental", "view")),
    }
    for path in sorted(DBT_DIR.rglob("*.sql")):
        name = path.relative_to(DBT_DIR).as_posix()
        if "target.type" not in path.read_text() or name.startswith("models/"):
            continue
        assert name in macro_renderings, f"{name} branches on target.type: say here how its Dremio form is seen"
        assert macro_renderings[name](), f"{name}: its Dremio rendering was not among the statements sent"


@pytest.mark.parametrize(("sql", "why"), [
    # dbt-dremio 1.11's own dremio__datediff, as it rendered in the customers mart before macros/dremio.sql.
    ("select customer_id, select DATEDIFF(max(d), min(d)) as days from t group by customer_id", "does not parse"),
    ("select epoch_ms(loaded_at) as t from x", "epoch_ms(), which Dremio does not register"),
    ("select list_aggregate(v, 'sum') from x", "list_aggregate(), which Dremio does not register"),
    ("select a from x where files = 1", "`files` is a reserved word"),  # Dremio's Parser.tdd
    ("select order_id as value from x", "`value` is a reserved word"),  # Calcite's Parser.jj
    ("select amount::decimal(12, 2) from x", "`x::type` is not Dremio SQL"),
    ("alter pds \"a\".\"b\" refresh metadata lazy update", "no checked Dremio grammar production"),
    ("create table \"a\".\"t\" store as (type=>iceberg) as (select 1 as x)", "no checked Dremio grammar production"),
])
def test_the_check_refuses_what_dremio_refuses(sql, why):
    problems = dremio_sql.check_statement(sql, dremio_sql.read_facts(dremio_sql.FUNCTIONS_FILE),
                                          dremio_sql.read_facts(dremio_sql.KEYWORDS_FILE))
    assert any(why in str(problem) for problem in problems), problems


def test_the_facts_are_the_vendors_source_at_the_pinned_commits():
    oss, calcite = dremio_sql.vendor_git_dir("dremio+dremio-oss"), dremio_sql.vendor_git_dir("apache+calcite")
    if oss is None or calcite is None:
        pytest.skip("no vendor checkouts: set VENDOR_SOURCES to a folder holding dremio+dremio-oss/repo and "
                    "apache+calcite/repo; the committed lists stand")
    assert dremio_sql.read_facts(dremio_sql.FUNCTIONS_FILE) == dremio_sql.functions_in_source(oss)
    assert dremio_sql.read_facts(dremio_sql.KEYWORDS_FILE) == dremio_sql.reserved_keywords_in_source(oss, calcite)
    assert dremio_sql.commands_in_grammar(oss) == []


def test_the_fake_records_sql_runs_none_and_keeps_jobs_to_their_user(tmp_path):
    with FakeDremio.start(make_pki(tmp_path / "pki")) as fake:
        for name in ("dbt", "other"):
            fake._store_user({"name": name, "password": PASSWORD})
        fake.sql_answers.append(lambda sql: [{"n": 1}, {"n": 2}] if "from t" in sql else None)
        tokens = {name: fake.handle("POST", "/apiv2/login", {}, json.dumps(
            {"userName": name, "password": PASSWORD}).encode())[1]["token"] for name in ("dbt", "other")}

        def call(method: str, path: str, user: str = "dbt", body: dict | None = None):
            raw = json.dumps(body).encode() if body is not None else b""
            return fake.handle(method, path, {"authorization": f"_dremio{tokens[user]}"}, raw)

        _, job = call("POST", "/api/v3/sql", body={"sql": "select n from t", "context": None})
        _, empty = call("POST", "/api/v3/sql", body={"sql": "drop table x"})
        assert fake.queries == ["select n from t", "drop table x"]
        assert call("GET", f"/api/v3/job/{job['id']}")[1]["jobState"] == "COMPLETED"
        results = call("GET", f"/api/v3/job/{job['id']}/results?offset=1&limit=1")[1]
        assert results == {"rowCount": 2, "schema": [{"name": "n", "type": {"name": "BIGINT"}}], "rows": [{"n": 2}]}
        assert call("GET", f"/api/v3/job/{empty['id']}/results")[1]["rows"] == []
        for method, path, user, body, status in (
                ("GET", f"/api/v3/job/{job['id']}", "other", None, 404),
                ("GET", f"/api/v3/job/{job['id']}/results?limit=501", "dbt", None, 400),
                ("POST", "/api/v3/sql", "dbt", {"sql": "select 1", "catalog": "x"}, 400),
                ("POST", "/api/v3/sql", "dbt", {"sql": " "}, 400)):
            with pytest.raises(ApiFailureError) as failure:
                call(method, path, user, body)
            assert failure.value.status == status, (method, path, user, body)
