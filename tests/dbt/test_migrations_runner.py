"""The migrations runner applies migrations/ once in version order and refuses edited or misnamed migrations."""

from __future__ import annotations

import shutil

import psycopg
import pytest

from infra import migrations

pytestmark = pytest.mark.integration


@pytest.fixture()
def database(postgres_server, request):
    return postgres_server.create_database(f"migrations_{request.node.name[:40].lower()}")


def test_applies_every_migration_once_and_a_second_run_changes_nothing(database):
    names = [m.name for m in migrations.discover()]
    assert names[:3] == ["V001__airbyte_state.sql", "V002__dbt_run_history.sql", "V003__drop_airbyte_state.sql"]
    assert migrations.apply(database) == names
    assert migrations.apply(database) == []
    with psycopg.connect(database) as conn:
        ledger = conn.execute("select version, name, checksum from platform.schema_migrations order by 1").fetchall()
        columns = [r[0] for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'platform' "
            "and table_name = 'dbt_run_history' order by ordinal_position")]
        # The seed's airbyte_state, created by V001, dropped by V003: Airbyte keeps its connections' state itself.
        assert conn.execute("select to_regclass('platform.airbyte_state')").fetchone()[0] is None
    assert [(v, n) for v, n, _ in ledger] == [(m.version, m.name) for m in migrations.discover()]
    assert [c for _, _, c in ledger] == [m.checksum for m in migrations.discover()]
    assert columns == ["run_id", "project_name", "started_at", "completed_at", "status", "models_run", "tests_run",
                       "metadata"]


def test_refuses_a_migration_edited_after_it_was_applied(database, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, folder)
    migrations.apply(database, folder)
    edited = folder / "V002__dbt_run_history.sql"
    edited.write_text(edited.read_text() + "\nALTER TABLE platform.dbt_run_history ADD COLUMN IF NOT EXISTS x int;\n")
    with pytest.raises(migrations.MigrationError, match=r"V002__dbt_run_history\.sql: changed after it was applied"):
        migrations.apply(database, folder)


def test_applies_only_new_versions_in_order(database, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, folder)
    migrations.apply(database, folder)
    (folder / "V900__note.sql").write_text("CREATE TABLE IF NOT EXISTS platform.note (id int);")
    assert migrations.apply(database, folder) == ["V900__note.sql"]


def test_a_failing_migration_is_rolled_back_and_not_recorded(database, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, folder)
    (folder / "V900__broken.sql").write_text("CREATE TABLE platform.half (id int); SELECT * FROM no_such_table;")
    with pytest.raises(psycopg.errors.UndefinedTable):
        migrations.apply(database, folder)
    with psycopg.connect(database) as conn:
        assert conn.execute("select to_regclass('platform.half')").fetchone()[0] is None
        assert conn.execute("select count(*) from platform.schema_migrations where version = 900").fetchone()[0] == 0


def test_rejects_badly_named_or_repeated_versions(tmp_path):
    (tmp_path / "V001__one.sql").write_text("select 1;")
    (tmp_path / "V1__other.sql").write_text("select 1;")
    with pytest.raises(migrations.MigrationError, match=r"V1__other\.sql: name migrations"):
        migrations.discover(tmp_path)
    (tmp_path / "V1__other.sql").unlink()
    (tmp_path / "V0001__again.sql").write_text("select 1;")
    with pytest.raises(migrations.MigrationError, match="version 1 is used by"):
        migrations.discover(tmp_path)
