"""A sample line of Dremio's queries.json, run through the rendered Fluent Bit config, becomes a platform-audit
document that fits the audit index's mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from components.lakehouse import log_routes as lakehouse_logs
from components.logs import spec as logs_spec
from tests.support.fluentbit import platform_config, platform_shipper

READ_AT = datetime(2026, 11, 20, 10, 15, 2, 345000, tzinfo=UTC)
QUERY_LINE = json.dumps({
    "queryId": "1a2b3c4d-0000-1111-2222-333344445555", "context": "[gold, marts]",
    "queryText": "SELECT order_date, daily_revenue FROM gold.marts.fct_daily_revenue", "start": 1763633700000,
    "finish": 1763633702345, "outcome": "COMPLETED", "outcomeReason": "", "username": "superset",
    "inputRecords": 365, "inputBytes": 8192, "outputRecords": 365, "outputBytes": 4096, "requestType": "RUN_SQL",
    "queryType": "FLIGHT", "parentsList": [], "accelerated": True, "reflectionRelationships": [],
    "queryCost": 365.0, "queueName": "High Cost User Queries", "poolName": "", "engineName": "",
})


def test_a_queries_json_line_becomes_an_audit_document():
    fluent_bit = platform_shipper()
    (document,) = fluent_bit.run(lakehouse_logs.QUERY_TAG, READ_AT, {"log": QUERY_LINE})
    assert document.index == "platform-audit-2026.11.20"
    assert document.body == {
        "timestamp": "2026-11-20T10:15:02.345Z", "source": "dremio", "actor": "superset", "action": "COMPLETED",
        "class": "FLIGHT", "object": "1a2b3c4d-0000-1111-2222-333344445555", "database": "[gold, marts]",
        "statement": "SELECT order_date, daily_revenue FROM gold.marts.fct_daily_revenue",
    }
    fields = {family.name: family.fields for family in logs_spec.families(7, 90)}["platform-audit"]
    assert set(document.body) <= set(fields)


def test_the_shipper_tails_dremio_log_volume_on_every_node():
    inputs = platform_config()["inputs"]
    assert "kubernetes.io~empty-dir/dremio-log/queries.json" in inputs
    assert "kubernetes.io~empty-dir/dremio-log/audit.json" in inputs
