"""What the dbt models must produce, computed in plain Python from the bronze rows the generator wrote.

Written from the rules in the issue and dbt/README.md, not from the SQL: the latest version of each key by
updated_at (then load time) wins, null keys / non-positive amounts / unknown statuses / unknown customers are
rejected with the first reason that applies, and the marts count completed orders only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

STATUS_SPELLINGS = {
    "pending": {"pending", "new", "placed"},
    "shipped": {"shipped", "in_transit", "dispatched"},
    "completed": {"completed", "complete", "delivered"},
    "cancelled": {"cancelled", "canceled"},
    "returned": {"returned", "refunded"},
}


def normalise_status(raw: str | None) -> str | None:
    word = (raw or "").strip().lower()
    return next((status for status, spellings in STATUS_SPELLINGS.items() if word in spellings), None)


def _latest(rows: list[dict], key: str) -> tuple[dict, Counter]:
    latest: dict = {}
    versions: Counter = Counter()
    for row in rows:
        k = row[key]
        versions[k] += 1
        rank = (row["updated_at"], row["_airbyte_extracted_at"])
        if k not in latest or rank > (latest[k]["updated_at"], latest[k]["_airbyte_extracted_at"]):
            latest[k] = row
    return latest, versions


@dataclass
class Expected:
    customers: dict[int, dict] = field(default_factory=dict)
    usable_orders: dict[int, dict] = field(default_factory=dict)
    rejects: Counter = field(default_factory=Counter)           # (entity, reason) -> rows
    superseded: Counter = field(default_factory=Counter)        # entity -> rows
    lifetime_value: dict[int, dict] = field(default_factory=dict)
    daily_revenue: dict[str, dict] = field(default_factory=dict)


def expected_from_bronze(customer_rows: list[dict], order_rows: list[dict]) -> Expected:
    out = Expected()
    keyed_customers = [r for r in customer_rows if r["customer_id"] is not None]
    out.rejects[("customer", "null_customer_id")] = len(customer_rows) - len(keyed_customers)
    latest_customers, customer_versions = _latest(keyed_customers, "customer_id")
    out.superseded["customer"] = sum(v - 1 for v in customer_versions.values())
    for cid, row in latest_customers.items():
        out.customers[cid] = {"customer_name": row["name"].strip().upper(), "email": row["email"].strip().lower()}

    keyed_orders = [r for r in order_rows if r["order_id"] is not None]
    out.rejects[("order", "null_order_id")] = len(order_rows) - len(keyed_orders)
    latest_orders, order_versions = _latest(keyed_orders, "order_id")
    out.superseded["order"] = sum(v - 1 for v in order_versions.values())
    for oid, row in latest_orders.items():
        amount = Decimal(row["amount"]) if row["amount"] is not None else None
        status = normalise_status(row["status"])
        if row["customer_id"] is None:
            reason = "null_customer_id"
        elif amount is None or amount <= 0:
            reason = "non_positive_amount"
        elif status is None:
            reason = "unknown_status"
        elif row["customer_id"] not in out.customers:
            reason = "unknown_customer"
        else:
            reason = None
        if reason:
            out.rejects[("order", reason)] += 1
        else:
            out.usable_orders[oid] = {"customer_id": row["customer_id"], "amount": amount, "status": status,
                                      "order_date": row["order_date"]}

    for order in out.usable_orders.values():
        if order["status"] != "completed":
            continue
        customer = out.lifetime_value.setdefault(order["customer_id"], {"amounts": [], "dates": []})
        customer["amounts"].append(order["amount"])
        customer["dates"].append(date.fromisoformat(order["order_date"]))
        day = out.daily_revenue.setdefault(order["order_date"], {"daily_revenue": Decimal(0), "order_count": 0})
        day["daily_revenue"] += order["amount"]
        day["order_count"] += 1
    for cid, customer in out.lifetime_value.items():
        amounts, dates = customer.pop("amounts"), customer.pop("dates")
        customer.update({
            **out.customers[cid],
            "total_orders": len(amounts),
            "lifetime_value": sum(amounts),
            "average_order_value": sum(amounts) / len(amounts),
            "first_order_date": min(dates).isoformat(),
            "last_order_date": max(dates).isoformat(),
            "customer_lifespan_days": (max(dates) - min(dates)).days,
        })
    return out
