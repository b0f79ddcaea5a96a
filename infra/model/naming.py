"""Names that cross a layer, in one place: what one layer declares under a name and another layer reads by it.

Today: the lake's bucket names, and the Dremio names dbt reads on its `dremio` target (the read-only lake
source bronze is read through, the write-enabled source and the bucket its tables land in, the space and folder
its marts are views in). The dbt runner's environment is built here, and the defaults in `dbt/profiles.yml`
and in the generated bronze sources are this module's names for the `dev` stack of the default prefix, which
tests/dbt/test_dbt_dremio_names.py holds them to.
"""

from __future__ import annotations

from infra.model.lake import bucket_name

# Dremio sources over the lake (components/lakehouse/component.py declares them): `lake` reads every flow layer's
# bucket, `lake_write` may write silver and gold. Both have the object store's root as their root path, so a path in
# them starts with the bucket: `lake."<prefix>-<stack>-bronze".<source>.<stream>`.
DREMIO_LAKE_SOURCE = "lake"
DREMIO_LAKE_WRITE_SOURCE = "lake_write"
# The space marts are views in, and its folder; Superset names that schema `gold.marts`.
DREMIO_MARTS_SPACE = "gold"
DREMIO_MARTS_FOLDER = "marts"
DREMIO_MARTS_SCHEMA = f"{DREMIO_MARTS_SPACE}.{DREMIO_MARTS_FOLDER}"
# What dbt's local defaults are written for (dbt/profiles.yml): the default prefix's dev stack.
DEFAULT_PREFIX = "dataplatform"
DEFAULT_STACK = "dev"


def dbt_dremio_environment(prefix: str, stack: str) -> dict[str, str]:
    """Every name dbt's `dremio` target reads from the environment, for one stack (host, login and password are
    the lakehouse layer's; see components/lakehouse/spec.py `dbt_environment`)."""
    return {
        "DBT_DREMIO_BRONZE_SOURCE": DREMIO_LAKE_SOURCE,
        "DBT_DREMIO_BRONZE_BUCKET": bucket_name(prefix, stack, "bronze"),
        "DBT_DREMIO_LAKE_SOURCE": DREMIO_LAKE_WRITE_SOURCE,
        "DBT_DREMIO_LAKE_PATH": bucket_name(prefix, stack, "silver"),
        "DBT_DREMIO_SPACE": DREMIO_MARTS_SPACE,
        "DBT_DREMIO_SPACE_FOLDER": DREMIO_MARTS_FOLDER,
    }
