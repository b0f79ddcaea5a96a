"""The catalog's marts drive their reflection models and Superset datasets: the checked-in files are what
`make mart-assets` writes, a mart added to the catalog gets both, a removed one loses them, and columns the dbt
model lacks are refused by key path."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from components.presentation.datasets import DatasetColumn
from infra.model import yamlio
from infra.model.catalog import load_catalog, parse_catalog
from infra.model.errors import ConfigError
from infra.model.stackfiles import REPO_ROOT
from infra.offline import mart_assets

DATABASE_UUID = yamlio.load((REPO_ROOT / mart_assets.DATABASE_FILE).read_text())["uuid"]
REVIEWS = {
    "name": "fct_product_reviews",
    "description": "Reviews and mean rating per product.",
    "grain": ["product_id"],
    "reflection": {"type": "aggregation", "dimensions": ["product_id", "review_date"],
                   "measures": ["review_count", "rating_sum"]},
}
REVIEWS_COLUMNS = (DatasetColumn("product_id"), DatasetColumn("review_date", temporal=True),
                   DatasetColumn("review_count"), DatasetColumn("rating_sum"))


def checked_in_columns() -> dict[str, tuple[DatasetColumn, ...]]:
    return mart_assets.mart_columns(yamlio.load((REPO_ROOT / mart_assets.MARTS_FILE).read_text()))


def catalog_with(*marts: dict, without: str | None = None):
    """A copy of the checked-in catalog with `marts` added and the mart named `without` left out, validated."""
    document = load_catalog().model_dump(mode="json", exclude_none=True)
    document["marts"] = [mart for mart in document["marts"] if mart["name"] != without] + list(marts)
    return parse_catalog(document)


def test_checked_in_files_are_what_the_catalog_gives():
    stale, orphans = mart_assets.load().drift(REPO_ROOT)
    assert (stale, orphans) == ([], []), "the mart assets differ from infra/dataflow.yaml; run `make mart-assets`"


def test_a_mart_added_to_the_catalog_gets_its_reflection_and_its_dataset():
    generated = mart_assets.generate(catalog_with(REVIEWS), {**checked_in_columns(), REVIEWS["name"]: REVIEWS_COLUMNS},
                                     DATABASE_UUID)
    files = generated.files
    assert files[Path("dbt/models/reflections/fct_product_reviews_agg.sql")] == f"""\
-- {mart_assets.GENERATED}
-- Dremio aggregation reflection on the mart `fct_product_reviews`, as the catalog declares it; `dremio` target only.
{{{{ config(
    materialized='reflection',
    reflection_type='aggregate',
    dimensions=['product_id', 'review_date'],
    measures=['review_count', 'rating_sum'],
    computations=['SUM', 'SUM']
) }}}}
-- depends_on: {{{{ ref('fct_product_reviews') }}}}
"""
    models = yaml.safe_load(files[mart_assets.REFLECTIONS_FILE])["models"]
    assert [model["name"] for model in models] == [
        "customers_raw", "daily_revenue_agg", "fct_product_reviews_agg"]
    dataset = yaml.safe_load(files[Path("components/presentation/assets/datasets/fct_product_reviews.yaml")])
    assert (dataset["table_name"], dataset["schema"], dataset["description"], dataset["database_uuid"]) == (
        "fct_product_reviews", "gold.marts", "Reviews and mean rating per product.", DATABASE_UUID)
    # Not pinned in the catalog: derived from the name under the connection's uuid, as the charts' uuids are.
    assert dataset["uuid"] == str(uuid.uuid5(uuid.UUID(DATABASE_UUID), "dataset:fct_product_reviews"))
    assert [(column["column_name"], column["is_dttm"]) for column in dataset["columns"]] == [
        ("product_id", False), ("review_date", True), ("review_count", False), ("rating_sum", False)]
    assert [metric["expression"] for metric in dataset["metrics"]] == ["COUNT(*)"]
    # The marts already declared keep their files as checked in.
    for path, text in files.items():
        if "fct_product_reviews" not in path.name and path not in (mart_assets.REFLECTIONS_FILE,
                                                                    mart_assets.EXPOSURES_FILE):
            assert (REPO_ROOT / path).read_text() == text, path


def test_a_raw_reflection_wraps_its_display_columns_under_the_first():
    mart = {"name": "fct_wide", "description": "Wide.", "grain": ["a_column_with_a_long_name_0"],
            "reflection": {"type": "raw", "display": [f"a_column_with_a_long_name_{n}" for n in range(5)]}}
    columns = tuple(DatasetColumn(name) for name in mart["reflection"]["display"])
    generated = mart_assets.generate(catalog_with(mart), {**checked_in_columns(), "fct_wide": columns}, DATABASE_UUID)
    sql = generated.files[Path("dbt/models/reflections/fct_wide_raw.sql")]
    assert "\n".join(line for line in sql.splitlines() if "a_column" in line) == (
        "    display=['a_column_with_a_long_name_0', 'a_column_with_a_long_name_1', 'a_column_with_a_long_name_2',\n"
        "             'a_column_with_a_long_name_3', 'a_column_with_a_long_name_4']")


def test_a_mart_without_a_reflection_gets_a_dataset_only():
    mart = {**REVIEWS, "reflection": None}
    generated = mart_assets.generate(catalog_with(mart), {**checked_in_columns(), REVIEWS["name"]: REVIEWS_COLUMNS},
                                     DATABASE_UUID)
    assert sorted(path.name for path in generated.files if "fct_product_reviews" in path.name) == [
        "fct_product_reviews.yaml"]


def test_time_columns_are_those_dbt_types_as_dates_or_timestamps():
    document = {"models": [{"name": "fct_x", "columns": [
        {"name": "day", "data_type": "date"}, {"name": "at", "data_type": "TIMESTAMP"}, {"name": "n"},
        {"name": "label", "data_type": "varchar"}]}]}
    assert mart_assets.mart_columns(document) == {"fct_x": (
        DatasetColumn("day", temporal=True), DatasetColumn("at", temporal=True), DatasetColumn("n"),
        DatasetColumn("label"))}
    assert [column.name for column in checked_in_columns()["daily_revenue"] if column.temporal] == ["order_date"]


def test_columns_the_dbt_model_lacks_are_refused_by_key_path():
    columns = {**checked_in_columns(), REVIEWS["name"]: REVIEWS_COLUMNS[:1]}
    with pytest.raises(ConfigError) as raised:
        mart_assets.generate(catalog_with({**REVIEWS, "grain": ["product_id", "sku"]}), columns, DATABASE_UUID)
    assert str(raised.value).splitlines() == [
        "infra/dataflow.yaml: marts[fct_product_reviews].grain: sku not among the columns of the dbt model in "
        'dbt/models/marts/_marts__models.yml; name columns it declares (got ["product_id", "sku"])',
        "infra/dataflow.yaml: marts[fct_product_reviews].reflection.dimensions: review_date not among the columns of "
        "the dbt model in dbt/models/marts/_marts__models.yml; name columns it declares "
        '(got ["product_id", "review_date"])',
        "infra/dataflow.yaml: marts[fct_product_reviews].reflection.measures: review_count, rating_sum not among the "
        "columns of the dbt model in dbt/models/marts/_marts__models.yml; name columns it declares (got "
        '["review_count", "rating_sum"])',
    ]
    with pytest.raises(ConfigError, match=r"marts\[fct_product_reviews\]: dbt/models/marts/_marts__models.yml has no "
                                          "dbt model `fct_product_reviews` with columns; declare the mart's model"):
        mart_assets.generate(catalog_with(REVIEWS), checked_in_columns(), DATABASE_UUID)


@pytest.fixture()
def repository(tmp_path: Path) -> Path:
    """The generator's inputs and both folders it writes, with the bundle's charts and a hand-written dataset."""
    for relative in (mart_assets.CATALOG_FILE, mart_assets.MARTS_FILE, mart_assets.EXPOSURES_FILE,
                     mart_assets.REFLECTIONS_DIR, mart_assets.BUNDLE_DIR):
        source, target = REPO_ROOT / relative, tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    (tmp_path / mart_assets.DATASETS_DIR / "orders_by_hand.yaml").write_text("# Written by hand.\ntable_name: x\n")
    return tmp_path


def test_a_mart_removed_from_the_catalog_loses_its_files_and_nothing_else(repository: Path, capsys):
    catalog = repository / mart_assets.CATALOG_FILE
    document = yamlio.load(catalog.read_text())
    document["marts"] = [mart for mart in document["marts"] if mart["name"] != "daily_revenue"]
    catalog.write_text(yaml.safe_dump(document, sort_keys=False))
    before = {path: path.read_bytes() for path in repository.rglob("*") if path.is_file()}

    assert mart_assets.main(["--check", "--root", str(repository)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "dbt/models/reflections/_reflections.yml: differs from what the catalog gives",
        "dbt/models/marts/_superset__exposures.yml: differs from what the catalog gives",
        "components/presentation/assets/datasets/daily_revenue.yaml: generated for a mart the catalog no longer "
        "declares",
        "dbt/models/reflections/daily_revenue_agg.sql: generated for a mart the catalog no longer declares",
    ]
    assert "run `make mart-assets`" in captured.err
    assert {path: path.read_bytes() for path in repository.rglob("*") if path.is_file()} == before

    assert mart_assets.main(["--root", str(repository)]) == 0
    # Only that mart's generated files go: the charts, the dashboard and the hand-written dataset stay.
    removed = sorted(path.relative_to(repository).as_posix() for path in before if not path.exists())
    assert removed == ["components/presentation/assets/datasets/daily_revenue.yaml",
                       "dbt/models/reflections/daily_revenue_agg.sql"]
    assert "daily_revenue" not in (repository / mart_assets.REFLECTIONS_FILE).read_text()
    # Its chart stays in the bundle, and out of dbt's lineage until it reads a mart again.
    assert "daily_revenue" not in (repository / mart_assets.EXPOSURES_FILE).read_text()
    assert mart_assets.main(["--check", "--root", str(repository)]) == 0


def test_a_catalog_error_exits_2_with_the_message(repository: Path, capsys):
    marts = repository / mart_assets.MARTS_FILE
    marts.write_text(marts.read_text().replace("      - name: order_date\n", "      - name: order_day\n"))
    assert mart_assets.main(["--root", str(repository)]) == 2
    assert capsys.readouterr().err.startswith(
        "infra/dataflow.yaml: marts[daily_revenue].grain: order_date not among the columns of the dbt model")


def _exposures(text: str) -> dict[str, dict]:
    return {exposure["name"]: exposure for exposure in yaml.safe_load(text)["exposures"]}


def bundle_as_checked_in() -> mart_assets.Bundle:
    return mart_assets.Bundle(
        charts=[yamlio.load(p.read_text()) for p in sorted((REPO_ROOT / mart_assets.CHARTS_DIR).glob("*.yaml"))],
        dashboards=[yamlio.load(p.read_text())
                    for p in sorted((REPO_ROOT / mart_assets.DASHBOARDS_DIR).glob("*.yaml"))])


def test_exposures_link_each_mart_to_its_dataset_and_the_dashboards_of_its_charts():
    exposures = _exposures((REPO_ROOT / mart_assets.EXPOSURES_FILE).read_text())
    datasets = {yamlio.load(p.read_text())["uuid"]: yamlio.load(p.read_text())["table_name"]
                for p in (REPO_ROOT / mart_assets.DATASETS_DIR).glob("*.yaml")}
    for mart in load_catalog().marts:
        dataset = exposures[f"superset_dataset_{mart.name}"]
        assert (dataset["type"], dataset["depends_on"]) == ("analysis", [f"ref('{mart.name}')"])
        assert datasets[dataset["meta"]["superset_dataset_uuid"]] == mart.name
    bundle = bundle_as_checked_in()
    for dashboard in bundle.dashboards:
        placed = {node["meta"]["uuid"] for node in dashboard["position"].values()
                  if isinstance(node, dict) and node.get("type") == "CHART"}
        read = sorted({datasets[chart["dataset_uuid"]] for chart in bundle.charts if chart["uuid"] in placed})
        exposure = exposures[f"superset_dashboard_{dashboard['slug'].replace('-', '_')}"]
        assert (exposure["type"], exposure["meta"]["superset_dashboard_uuid"]) == ("dashboard", dashboard["uuid"])
        assert exposure["depends_on"] == [f"ref('{name}')" for name in read]


def test_exposures_follow_the_bundle():
    bundle = bundle_as_checked_in()
    (dashboard,) = bundle.dashboards
    generated = mart_assets.generate(catalog_with(REVIEWS), {**checked_in_columns(), REVIEWS["name"]: REVIEWS_COLUMNS},
                                     DATABASE_UUID, bundle)
    before = _exposures(generated.files[mart_assets.EXPOSURES_FILE])
    slug = f"superset_dashboard_{dashboard['slug'].replace('-', '_')}"
    assert "ref('fct_product_reviews')" not in before[slug]["depends_on"]
    assert "none" in before["superset_dataset_fct_product_reviews"]["description"]

    # A chart on the new mart, placed on the dashboard: both exposures name it.
    reviews_uuid = str(uuid.uuid5(uuid.UUID(DATABASE_UUID), "dataset:fct_product_reviews"))
    chart = {"uuid": "0d8a2d55-5a5e-4c57-9d84-6f1d7c7c0c01", "slice_name": "Reviews", "dataset_uuid": reviews_uuid}
    position = {**dashboard["position"], "CHART-9": {"type": "CHART", "id": "CHART-9", "meta": {"uuid": chart["uuid"]}}}
    grown = mart_assets.Bundle(charts=[*bundle.charts, chart], dashboards=[{**dashboard, "position": position}])
    after = _exposures(mart_assets.generate(
        catalog_with(REVIEWS), {**checked_in_columns(), REVIEWS["name"]: REVIEWS_COLUMNS}, DATABASE_UUID,
        grown).files[mart_assets.EXPOSURES_FILE])
    assert "ref('fct_product_reviews')" in after[slug]["depends_on"]
    assert '"Reviews"' in after["superset_dataset_fct_product_reviews"]["description"]

    # A dashboard whose charts are taken off reads no mart any more: it leaves dbt's lineage.
    emptied = {**dashboard, "position": {key: node for key, node in dashboard["position"].items()
                                         if not (isinstance(node, dict) and node.get("type") == "CHART")}}
    gone = _exposures(mart_assets.generate(load_catalog(), checked_in_columns(), DATABASE_UUID, mart_assets.Bundle(
        charts=bundle.charts, dashboards=[emptied])).files[mart_assets.EXPOSURES_FILE])
    assert slug not in gone
