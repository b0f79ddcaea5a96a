"""The generator works in chunks: a dataset of one chunk is the one the generator wrote before it had chunks, a
dataset of many chunks keeps every global property (ids, references, raw ids) and stays deterministic, and the
vectorized customer strings are the ones the row-by-row spelling gives."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from support.dbt_workspace import DBT_PYTHON, REPO_ROOT, Workspace

pytestmark = pytest.mark.integration

# Rows and content digest (the `_DIGEST` script below) of each bronze file, recorded by running the generator as
# it was before it worked in chunks (`python -m tooling.generate --orders <args>` at commit e5be181) and computing
# `_DIGEST` on its output. The chunked generator wrote byte-identical files for these arguments (sha256 compared).
BEFORE_CHUNKS = {
    "5000": {
        "customers/date=2025-10-14": [445, "d2a33bda5ba54f67"],
        "customers/date=2025-10-15": [63, "5e22f612c706f23d"],
        "customers/date=2025-10-16": [65, "7c374933aea062be"],
        "orders/date=2025-10-14": [4686, "6360b569c980f136"],
        "orders/date=2025-10-15": [1335, "1bff44a58b5c2e11"],
        "orders/date=2025-10-16": [1688, "3f53329726ea8fea"],
    },
    "2000 --loads 5 --through-load 3 --seed 7": {
        "customers/date=2025-10-12": [186, "8ad735cc6c3ca78a"],
        "customers/date=2025-10-13": [12, "9a08247f398ae353"],
        "customers/date=2025-10-14": [9, "78185d6d6f9d7d55"],
        "orders/date=2025-10-12": [1872, "05593fe0cf944dfd"],
        "orders/date=2025-10-13": [390, "6dae0b4259c31d19"],
        "orders/date=2025-10-14": [428, "66eac38f80ab3e73"],
    },
    "7 --customers 1": {
        "customers/date=2025-10-14": [1, "8a543d1117361bf4"],
        "customers/date=2025-10-15": [0, "a4be585f3f987fc0"],
        "customers/date=2025-10-16": [1, "47bb6611fb6694e5"],
        "orders/date=2025-10-14": [6, "7363b36a969ed97f"],
        "orders/date=2025-10-15": [1, "b98d247e3167b4e1"],
        "orders/date=2025-10-16": [1, "0cf3136ceaf272e4"],
    },
    "50000 --seed 3": {
        "customers/date=2025-10-14": [4462, "19b6acef43ddf936"],
        "customers/date=2025-10-15": [639, "04252cbad9481e17"],
        "customers/date=2025-10-16": [668, "2261a48c3f42bf22"],
        "orders/date=2025-10-14": [47299, "52ae3c77880e3832"],
        "orders/date=2025-10-15": [13155, "9dbc84b5e0759cf0"],
        "orders/date=2025-10-16": [17122, "c1876ff9c04de7bf"],
    },
}

# Digest of every bronze postgres file under a lake root: rows, and a hash of the column types and values in order.
_DIGEST = """
import hashlib, json, sys
from pathlib import Path
import pyarrow.parquet as pq
base = Path(sys.argv[1]) / "bronze" / "postgres"
out = {}
for f in sorted(base.glob("*/date=*/data.parquet")):
    t = pq.read_table(f)
    h = hashlib.sha256(json.dumps([[n, str(t.schema.field(n).type)] for n in t.column_names]).encode())
    for n in t.column_names:
        h.update(json.dumps(t.column(n).to_pylist(), default=str).encode())
    out[str(f.parent.relative_to(base))] = [t.num_rows, h.hexdigest()[:16]]
print(json.dumps(out))
"""


def run_in_dbt_venv(code: str, *args: str) -> object:
    result = subprocess.run([str(DBT_PYTHON), "-c", code, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO_ROOT / "dbt"), "PATH": "/usr/bin:/bin"}, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("arguments", list(BEFORE_CHUNKS))
def test_a_dataset_of_one_chunk_is_what_it_was_before_chunks(arguments, tmp_path, dbt_venv):
    workspace = Workspace(root=tmp_path, extra_env={})
    workspace.generate(*arguments.split())
    assert run_in_dbt_venv(_DIGEST, str(workspace.lake)) == BEFORE_CHUNKS[arguments]


# The customer strings as the generator built them row by row before they were vectorized, after the same draws.
_REFERENCE_STRINGS = """
import json, sys
import numpy as np
from tooling.sample_data import CITIES, DOMAINS, FIRST_NAMES, LAST_NAMES, Scale, chunk_rng, customers

def reference(scale, start, n, rng):
    later = rng.random(n) >= 0.85                                    # the draws, in the generator's order
    first_load = np.zeros(n, dtype="int64")
    first_load[later] = rng.integers(1, scale.loads, later.sum())
    rng.integers(0, 730 * 86_400, n)
    twice = rng.random(n) < 0.15
    rng.integers(first_load, scale.loads)
    rng.integers(3600, 30 * 86_400, n)
    ids = np.arange(start + 1, start + n + 1)
    row_customer = np.concatenate([ids, ids[twice]])
    row_version = [0] * n + [1] * int(twice.sum())
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    domain = rng.integers(0, len(DOMAINS), n)
    city = rng.integers(0, len(CITIES), n)
    rows = len(row_customer)
    name_form = rng.integers(0, 4, rows)
    pad = rng.random(rows) < 0.2
    mixed_email = rng.random(rows) < 0.3
    out = {"name": [], "email": [], "phone": [], "city": [], "state": [], "zip_code": []}
    for i in range(rows):                                            # the row-by-row spelling
        cid = int(row_customer[i])
        c = cid - 1 - start
        full = f"{FIRST_NAMES[first[c]]} {LAST_NAMES[last[c]]}"
        full = (full.lower(), full.upper(), full.title(), full.swapcase().title().swapcase())[name_form[i]]
        out["name"].append(f"  {full} " if pad[i] else full)
        suffix = ".v2" if row_version[i] else ""
        email = f"{FIRST_NAMES[first[c]]}.{LAST_NAMES[last[c]]}{cid}{suffix}@{DOMAINS[domain[c]]}"
        out["email"].append(email.title() if mixed_email[i] else email)
        out["phone"].append(f"+33 4 {cid % 100:02d} {cid % 97:02d} 00")
        out["city"].append(CITIES[city[c]][0])
        out["state"].append(CITIES[city[c]][1])
        out["zip_code"].append(f"{69000 + (cid % 900):05d}")
    return out

checked = 0
for seed, start, count, chunk in ((42, 0, 3000, 0), (7, 6000, 3000, 2), (3, 0, 1, 0)):
    scale = Scale(orders=100, customers=start + count, seed=seed)
    table = customers(scale, start, count, chunk_rng(seed, 1, chunk))
    expected = reference(scale, start, count, chunk_rng(seed, 1, chunk))
    rows = len(expected["name"])
    for column, values in expected.items():
        got = table.column(column).to_pylist()
        assert got[:rows] == values, (seed, column, [(a, b) for a, b in zip(got, values) if a != b][:5])
        assert len(set(got[rows:])) == 1 and table.num_rows - rows == max(1, count // 500)
    if count > 1:  # every spelling occurs: the comparison covers all of them
        names = [n.strip() for n in expected["name"]]
        assert all(any(test(n) for n in names) for test in (
            str.islower, str.isupper, str.istitle, lambda n: n[0].islower() and not n.islower()))
        assert any(n != n.strip() for n in expected["name"])
        assert any(e != e.lower() for e in expected["email"]) and any(".v2@" in e for e in expected["email"])
    checked += rows
print(json.dumps(checked))
"""


def test_vectorized_customer_strings_are_the_row_by_row_ones(dbt_venv):
    assert run_in_dbt_venv(_REFERENCE_STRINGS) > 6000


# A 25,000-order dataset in chunks of 1,000 orders and 300 customers, written twice, then a first-two-loads replay.
_MANY_CHUNKS = """
import hashlib, json, sys
from collections import Counter
from pathlib import Path
import pyarrow.dataset as ds
from tooling import generate, sample_data

base = Path(sys.argv[1])
scale = sample_data.Scale.for_orders(25_000, seed=11, loads=4)
lines, digests = [], []
for run in ("a", "b"):
    lines.clear()
    written = generate.write_bronze(scale, base / run, progress=lines.append, chunk_orders=1000, chunk_customers=300)
    digests.append({str(f.relative_to(base / run)): hashlib.sha256(f.read_bytes()).hexdigest()
                    for f in sorted((base / run).rglob("*.parquet"))})
replay = sample_data.Scale.for_orders(25_000, seed=11, loads=4, through_load=2)
generate.write_bronze(replay, base / "replay", progress=lambda _: None, chunk_orders=1000, chunk_customers=300)

def rows(root, stream):
    return ds.dataset(root / "bronze" / "postgres" / stream, partitioning="hive").to_table().to_pylist()

orders, customers = rows(base / "a", "orders"), rows(base / "a", "customers")
orders_replay = rows(base / "replay", "orders")
c = scale.customers
versions = Counter(r["order_id"] for r in orders if r["order_id"] is not None)
known = sorted({r["customer_id"] for r in orders if r["customer_id"] is not None and r["customer_id"] <= c})
by_order = {}
for r in orders:
    if r["order_id"] is not None:
        by_order.setdefault(r["order_id"], []).append((r["_airbyte_extracted_at"], r["updated_at"]))
numbers = {}  # the raw id numbers of each order's versions
for r in orders:
    if r["order_id"] is not None:
        numbers.setdefault(r["order_id"], []).append(int(r["_airbyte_raw_id"].rsplit("-", 1)[1]))
late = sorted(o for o, v in by_order.items()
              if any(a_load > b_load and a_upd < b_upd for a_load, a_upd in v for b_load, b_upd in v))
print(json.dumps({
    "written": written,
    "deterministic": digests[0] == digests[1] and len(digests[0]) == 8,
    "lines": lines,
    "progress_rows": [[int(line.split("chunk ")[1].split("/")[0]), line.split(", ")[1].split(" rows")[0]]
                      for line in lines if "chunk" in line],
    "raw_ids_unique": {s: len({r["_airbyte_raw_id"] for r in t}) == len(t)
                       for s, t in (("orders", orders), ("customers", customers))},
    "raw_id_numbers": {s: sorted({r["_airbyte_raw_id"].rsplit("-", 1)[0] for r in t})
                       + [max(int(r["_airbyte_raw_id"].rsplit("-", 1)[1]) for r in t)]
                       for s, t in (("orders", orders), ("customers", customers))},
    "order_ids": [min(versions), max(versions), len(versions)],
    "versions_per_order": sorted(set(versions.values())),
    "versions_together": all(max(n) - min(n) == len(n) - 1 for n in numbers.values()),
    "null_order_ids": sum(r["order_id"] is None for r in orders),
    "null_customer_ids": sum(r["customer_id"] is None for r in customers),
    "customer_ids": sorted({r["customer_id"] for r in customers if r["customer_id"] is not None})
                    == list(range(1, c + 1)),
    "versions_per_customer": sorted(set(Counter(r["customer_id"] for r in customers
                                                if r["customer_id"] is not None).values())),
    "known_references": [known[0], known[-1], len(known)],
    "unknown_references": sorted({r["customer_id"] for r in orders
                                  if r["customer_id"] is not None and r["customer_id"] > c})[:1],
    "late_orders_after_chunk_0": sum(o > 1000 for o in late),
    "replay_is_a_prefix": sorted(json.dumps(r, default=str) for r in orders_replay) == sorted(
        json.dumps(r, default=str) for r in orders if r["date"] <= "2025-10-14"),
}, default=str))
"""


def test_many_chunks_keep_every_global_property(tmp_path, dbt_venv):
    got = run_in_dbt_venv(_MANY_CHUNKS, str(tmp_path))
    customers = 2500
    assert got["deterministic"], "the same arguments must write the same files"
    assert got["raw_ids_unique"] == {"orders": True, "customers": True}
    # Raw ids number every row across chunks from 0 (null-id rows included): unique and none skipped.
    assert got["raw_id_numbers"] == {stream: [f"{stream}-11", got["written"][stream] - 1]
                                     for stream in ("orders", "customers")}
    assert got["order_ids"] == [1, 25_000, 25_000]
    # An order's versions (one to three) are consecutive rows: none is split from its order across chunks.
    assert got["versions_per_order"] == [1, 2, 3] and got["versions_together"]
    assert got["customer_ids"] and got["versions_per_customer"] == [1, 2]
    # Null-id rows are drawn per chunk, in proportion: 25 chunks of 1,000 orders, 9 chunks of at most 300 customers.
    assert got["null_order_ids"] == 25 * 2
    assert got["null_customer_ids"] == 9
    # Orders of every chunk reference customers of every chunk, and unknown customers above the last one.
    low, high, distinct = got["known_references"]
    assert low == 1 and high > 0.95 * customers and distinct > 0.5 * customers
    assert got["unknown_references"] and got["unknown_references"][0] > customers
    assert got["late_orders_after_chunk_0"] > 0, "late arrivals must happen in every chunk, not only the first"
    assert got["replay_is_a_prefix"], "--through-load must replay the first loads of the full dataset"
    assert [re.sub(r"\(\d+\.\d s\)", "(N s)", line) for line in got["lines"]] == [
        f"  bronze/postgres/customers/: {got['written']['customers']:,} rows in 4 loads (N s)",
        *[f"  bronze/postgres/orders/: chunk {k}/25, {rows} rows (N s)" for k, rows in got["progress_rows"]],
        f"  bronze/postgres/orders/: {got['written']['orders']:,} rows in 4 loads (N s)",
    ]
    assert [k for k, _ in got["progress_rows"]] == [10, 20]
