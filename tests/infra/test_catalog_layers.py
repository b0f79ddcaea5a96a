"""Each lake layer's format, codec and partitioning are ones its writer (Airbyte, dbt, the log shipper) can make."""

from __future__ import annotations

import copy

import pytest
import yaml

from infra.model.catalog import CATALOG_PATH, LAYER_PARTITIONS, parse_catalog
from infra.model.errors import ConfigError


@pytest.fixture()
def document() -> dict:
    return yaml.safe_load(CATALOG_PATH.read_text())


def layer(document: dict, name: str, **changes: object) -> dict:
    changed = copy.deepcopy(document)
    changed["lake"]["layers"][name].update(changes)
    return changed


@pytest.mark.parametrize(("name", "codec"), [("bronze", "lzo"), ("bronze", "uncompressed"), ("gold", "brotli"),
                                              ("silver", "lz4"), ("logs", "uncompressed")])
def test_codecs_the_writers_support_are_accepted(document, name, codec):
    assert parse_catalog(layer(document, name, codec=codec)).lake.layer(name).codec == codec


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("bronze", {"codec": "snappy2"}, "lake.layers.bronze.codec: Input should be 'uncompressed', 'snappy'"),
        ("bronze", {"codec": "none"}, "lake.layers.bronze.codec: Input should be 'uncompressed', 'snappy'"),
        ("logs", {"codec": "zstd"}, "lake.layers.logs.codec: json files take codec uncompressed or gzip (got 'zstd')"),
        ("silver", {"codec": "lzo"}, "lake.layers.silver.codec: dbt writes this layer: use a codec it can write, one "
                                     "of uncompressed, snappy, gzip, brotli, lz4, zstd (got 'lzo')"),
        ("gold", {"format": "csv", "codec": "gzip"}, "lake.layers.gold.format: dbt writes this layer as Parquet: set "
                                                     "`parquet` (got 'csv')"),
        ("bronze", {"format": "json", "codec": "gzip"}, "lake.layers.bronze.format: Airbyte's S3 destination writes "
                                                        "bronze as Parquet: set `parquet` (got 'json')"),
        ("bronze", {"partitioning": ["date", "date"]}, "lake.layers.bronze.partitioning: not one the layer's writer "
                                                       "makes; use keys from ['date'], each once (got [\"date\", "
                                                       "\"date\"])"),
        ("gold", {"partitioning": ["business_key"]}, "lake.layers.gold.partitioning: not one the layer's writer "
                                                     "makes; use keys from ['period'], each once (got "
                                                     "[\"business_key\"])"),
        ("silver", {"partitioning": ["customer"]}, "lake.layers.silver.partitioning[0]: Input should be 'date', "
                                                   "'business_key', 'period' or 'service' (got 'customer')"),
    ],
)
def test_a_layer_its_writer_cannot_make_is_refused(document, name, changes, message):
    with pytest.raises(ConfigError) as raised:
        parse_catalog(layer(document, name, **changes))
    assert message in str(raised.value)


def test_the_checked_in_catalog_uses_the_partitions_of_each_writer(document):
    catalog = parse_catalog(document)
    for name, allowed in LAYER_PARTITIONS.items():
        assert set(catalog.lake.layer(name).partitioning) <= set(allowed)


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("silver", {"buckets": None}, "lake.layers.silver.buckets: partitioning by business_key needs a bucket "
                                      "count (1 to 1000)"),
        ("silver", {"buckets": 1001}, "lake.layers.silver.buckets: Input should be less than or equal to 1000"),
        ("gold", {"period": None}, "lake.layers.gold.period: partitioning by period needs `year` or `month`"),
        ("gold", {"period": "day"}, "lake.layers.gold.period: Input should be 'year' or 'month'"),
        ("bronze", {"buckets": 8}, "lake.layers.bronze.partitioning: `buckets` is set: partition by business_key, or "
                                   "remove `buckets`"),
        ("silver", {"partitioning": []}, "lake.layers.silver.partitioning: `buckets` is set: partition by "
                                         "business_key, or remove `buckets` (got [])"),
    ],
)
def test_partitioning_is_bounded(document, name, changes, message):
    with pytest.raises(ConfigError) as raised:
        parse_catalog(layer(document, name, **changes))
    assert message in str(raised.value)
