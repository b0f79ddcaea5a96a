"""Deterministic sample rows for bronze `postgres/customers` and `postgres/orders`, with the dirt staging handles.

Everything derives from one seeded generator, so the same arguments always give the same rows. Rows are
spread over `loads` daily Airbyte loads (one `date=` partition each); `through_load` keeps only the first
loads, which is how tests replay the arrival of later data.

The dirt, in every dataset large enough to hold it:
- customers: rows with a null id, names padded with spaces and in random case, emails in mixed case,
  a second version for some customers, customers that arrive in a later load than their first orders;
- orders: rows with a null id or a null customer id, zero and negative amounts, raw statuses spelled many
  ways (plus one the platform does not know), up to three versions per order, versions that arrive late
  (an older `updated_at` loaded after a newer one), orders of customers that never arrive.

Large datasets are generated in fixed-size chunks (`CHUNK_CUSTOMERS` customers, `CHUNK_ORDERS` orders), so
memory stays bounded whatever the size. Chunk 0 draws from the same seeded stream as a dataset generated in one
piece, so any dataset that fits in one chunk (every dataset the tests use, and the 1M-order benchmark) is the
same as if chunking did not exist; chunk k > 0 draws from its own stream `[seed, stream, k]`. What is global stays
global: ids run on across chunks, orders reference every customer (and unknown customers above the last one),
and `_airbyte_raw_id` numbers rows across chunks. What is per order (versions, late arrivals) or per customer
(second versions) stays inside its chunk; the rows with a null id are drawn per chunk, in proportion to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tooling.errors import UsageError

END_DATE = date(2025, 10, 16)
HISTORY_DAYS = 730
LOAD_HOUR = 2
MAX_ORDERS = 200_000_000
# Chunk sizes: a 1M-order chunk holds about 1.55M order rows and a 1M-customer chunk about 1.15M customer rows;
# the generator's peak resident memory measured about 480 MB and 680 MB with them, at any number of chunks. Both
# are large enough that numpy's per-call overhead is negligible, and the 1M-order benchmark (100k customers) and
# the 10M-order one's customers (1M) stay in one chunk, so they are the data they were before chunks.
CHUNK_ORDERS = 1_000_000
CHUNK_CUSTOMERS = 1_000_000
CUSTOMER_STREAM, ORDER_STREAM = 1, 2

FIRST_NAMES = ["alice", "bruno", "chloe", "david", "emma", "farid", "giulia", "hugo", "ines", "jonas", "keiko",
               "lucas", "maya", "nadia", "omar", "paula", "quentin", "rosa", "sven", "tomoko", "ugo", "vera",
               "william", "xenia", "yusuf", "zoe"]
LAST_NAMES = ["martin", "bernard", "dubois", "sato", "suzuki", "garcia", "muller", "rossi", "novak", "silva",
              "kowalski", "jensen", "nguyen", "okafor", "haddad", "larsen", "moreau", "fischer", "tanaka", "costa"]
DOMAINS = ["example.com", "mail.example.org", "shop.example.net"]
CITIES = [("Lyon", "ARA"), ("Paris", "IDF"), ("Osaka", "OSK"), ("Tokyo", "TKY"), ("Lille", "HDF"),
          ("Nantes", "PDL"), ("Kyoto", "KYT"), ("Bordeaux", "NAQ")]

# Raw spellings per status as the operational database holds them (staging maps them back, see dbt_project.yml).
RAW_STATUSES = {
    "pending": ["pending", "new", "placed"],
    "shipped": ["shipped", "in_transit", "dispatched"],
    "completed": ["completed", "complete", "delivered"],
    "cancelled": ["cancelled", "canceled"],
    "returned": ["returned", "refunded"],
    "unknown": ["on_hold"],
}
FINAL_STATUS_WEIGHTS = {"completed": 0.70, "shipped": 0.09, "pending": 0.07, "cancelled": 0.08, "returned": 0.06}


@dataclass(frozen=True)
class Scale:
    orders: int
    customers: int
    loads: int = 3
    seed: int = 42
    through_load: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.orders <= MAX_ORDERS:
            raise UsageError(f"--orders must be between 1 and {MAX_ORDERS:,} (got {self.orders}); e.g. --orders 100000")
        if self.customers < 1:
            raise UsageError(f"--customers must be at least 1 (got {self.customers}); omit it to use orders / 10")
        if not 2 <= self.loads <= 30:
            raise UsageError(f"--loads must be between 2 and 30 (got {self.loads}); late arrivals need two loads")
        if self.through_load is not None and not 1 <= self.through_load <= self.loads:
            raise UsageError(f"--through-load must be between 1 and --loads ({self.loads}) (got {self.through_load})")
        if self.seed < 0:
            raise UsageError(f"--seed must be a non-negative integer (got {self.seed})")

    @classmethod
    def for_orders(cls, orders: int, **kwargs) -> Scale:
        """Customers scale with orders: one customer for every ten orders (at least ten)."""
        customers = kwargs.pop("customers", None)
        return cls(orders=orders, customers=max(10, orders // 10) if customers is None else customers, **kwargs)


def load_dates(scale: Scale) -> list[date]:
    """The day of each load, oldest first; the last one is END_DATE."""
    return [END_DATE - timedelta(days=scale.loads - 1 - i) for i in range(scale.loads)]


def _loaded_at(scale: Scale, load_index: np.ndarray) -> np.ndarray:
    first = np.datetime64(datetime.combine(load_dates(scale)[0], datetime.min.time()), "us")
    return first + (load_index.astype("int64") * 86_400 + LOAD_HOUR * 3600) * 1_000_000


def _spelled(rng: np.random.Generator, statuses: np.ndarray) -> pa.Array:
    """Raw status strings: a random spelling of each status, in random case, sometimes padded."""
    variants, lookup = [], {}
    for status, spellings in RAW_STATUSES.items():
        for spelling in spellings:
            for form in (spelling, spelling.upper(), spelling.capitalize(), f" {spelling} ", f"{spelling.upper()} "):
                lookup.setdefault(status, []).append(len(variants))
                variants.append(form)
    names = list(RAW_STATUSES)
    indices = np.empty(len(statuses), dtype="int32")
    for code, status in enumerate(names):
        mask = statuses == code
        choices = np.array(lookup[status], dtype="int32")
        indices[mask] = choices[rng.integers(0, len(choices), mask.sum())]
    return pa.DictionaryArray.from_arrays(pa.array(indices), pa.array(variants)).cast(pa.string())


def status_code(name: str) -> int:
    return list(RAW_STATUSES).index(name)


def _load_of_new(rng: np.random.Generator, count: int, loads: int, first_share: float) -> np.ndarray:
    """Load of each new record: most in the first load (the initial sync), the rest spread over later ones."""
    later = rng.random(count) >= first_share
    load = np.zeros(count, dtype="int64")
    load[later] = rng.integers(1, loads, later.sum())
    return load


def chunk_bounds(total: int, size: int) -> list[tuple[int, int]]:
    """(start, count) of each chunk of `size` records (the last one shorter) covering `total` records."""
    if size < 1:
        raise UsageError(f"chunk size must be at least 1 (got {size})")
    return [(start, min(size, total - start)) for start in range(0, total, size)]


def chunk_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """Chunk 0 draws from `[seed, stream]`, the stream of a dataset generated in one piece; chunk k from its own."""
    return np.random.default_rng([seed, stream] if index == 0 else [seed, stream, index])


def customer_chunks(scale: Scale, size: int = CHUNK_CUSTOMERS) -> Iterator[pa.Table]:
    """The customers dataset, `size` customers at a time (with their second versions and null-id rows)."""
    for index, (start, count) in enumerate(chunk_bounds(scale.customers, size)):
        yield customers(scale, start, count, chunk_rng(scale.seed, CUSTOMER_STREAM, index))


def _take(values: list[str], index: np.ndarray) -> pa.Array:
    return pc.take(pa.array(values, pa.string()), pa.array(index, pa.int64()))


def _name_forms() -> list[str]:
    """Every full name as the rows spell it: per (first, last) name, 4 case forms, each bare then padded."""
    forms = []
    for first in FIRST_NAMES:
        for last in LAST_NAMES:
            full = f"{first} {last}"
            for form in (full.lower(), full.upper(), full.title(), full.swapcase().title().swapcase()):
                forms += [form, f"  {form} "]
    return forms


def customers(scale: Scale, start: int = 0, count: int | None = None,
              rng: np.random.Generator | None = None) -> pa.Table:
    """Customers `start + 1` to `start + count` (by default all of them, in one piece), with a `_load` column."""
    rng = rng or chunk_rng(scale.seed, CUSTOMER_STREAM, 0)
    n = scale.customers - start if count is None else count
    ids = np.arange(start + 1, start + n + 1, dtype="int64")
    first_load = _load_of_new(rng, n, scale.loads, first_share=0.85)
    history_start = np.datetime64(END_DATE - timedelta(days=HISTORY_DAYS), "us")
    created = history_start + rng.integers(0, HISTORY_DAYS * 86_400, n) * 1_000_000

    # A second version (new email or fixed name) for some customers, in the same or a later load.
    twice = rng.random(n) < 0.15
    second_load = np.where(twice, rng.integers(first_load, scale.loads), first_load)
    updated = created + rng.integers(3600, 30 * 86_400, n) * 1_000_000

    local = np.concatenate([np.arange(n), np.flatnonzero(twice)])  # the row's customer, within the chunk
    row_customer = ids[local]
    row_version = np.concatenate([np.zeros(n, "int64"), np.ones(twice.sum(), "int64")])
    row_load = np.concatenate([first_load, second_load[twice]])
    row_updated = np.concatenate([created, updated[twice]])

    first = rng.integers(0, len(FIRST_NAMES), n)[local]
    last = rng.integers(0, len(LAST_NAMES), n)[local]
    domain = rng.integers(0, len(DOMAINS), n)[local]
    city = rng.integers(0, len(CITIES), n)[local]
    rows = len(row_customer)
    name_form = rng.integers(0, 4, rows)
    pad = rng.random(rows) < 0.2
    mixed = (rng.random(rows) < 0.3).astype("int64")
    # Strings are picked from small tables of every spelling (built with Python's own str methods), so a
    # million rows cost a few array operations: `title()` treats the parts alike alone or joined, as each is
    # separated from the next by a character without case (a dot, a digit, `@`).
    pair = first * len(LAST_NAMES) + last
    names = _take(_name_forms(), (pair * 4 + name_form) * 2 + pad)
    local_parts = [form for f in FIRST_NAMES for la in LAST_NAMES for form in (f"{f}.{la}", f"{f}.{la}".title())]
    email = pc.binary_join_element_wise(
        _take(local_parts, pair * 2 + mixed),
        pc.cast(pa.array(row_customer), pa.string()),
        _take(["", "", ".v2", ".V2"], row_version * 2 + mixed),
        _take([form for d in DOMAINS for form in (f"@{d}", f"@{d}".title())], domain * 2 + mixed),
        "")
    two_digits = [f"{i:02d}" for i in range(100)]
    phone = pc.binary_join_element_wise("+33 4", _take(two_digits, row_customer % 100),
                                        _take(two_digits, row_customer % 97), "00", " ")
    zip_code = pc.cast(pa.array(69000 + row_customer % 900), pa.string())

    # Rows Airbyte lands with no id (a broken CDC event): rejected by staging, never silently dropped.
    nulls = max(1, n // 500)
    null_load = rng.integers(0, scale.loads, nulls)
    absent = pa.nulls(nulls, pa.string())
    table = pa.table({
        "customer_id": pa.array(np.concatenate([row_customer, np.zeros(nulls, "int64")]),
                                mask=np.concatenate([np.zeros(rows, bool), np.ones(nulls, bool)])),
        "name": pa.concat_arrays([names, pa.repeat(pa.scalar("  Nobody "), nulls)]),
        "email": pa.concat_arrays([email, pa.repeat(pa.scalar("NOBODY@EXAMPLE.COM"), nulls)]),
        "phone": pa.concat_arrays([phone, absent]),
        "city": pa.concat_arrays([_take([name for name, _ in CITIES], city), absent]),
        "state": pa.concat_arrays([_take([state for _, state in CITIES], city), absent]),
        "zip_code": pa.concat_arrays([zip_code, absent]),
        "created_at": pa.array(np.concatenate([created[local], history_start + np.zeros(nulls, "int64")])),
        "updated_at": pa.array(np.concatenate([row_updated, history_start + np.zeros(nulls, "int64")])),
        "_load": pa.array(np.concatenate([row_load, null_load])),
    })
    return table


def order_chunks(scale: Scale, size: int = CHUNK_ORDERS) -> Iterator[pa.Table]:
    """The orders dataset, `size` orders at a time (with all their versions and the chunk's null-id rows)."""
    for index, (start, count) in enumerate(chunk_bounds(scale.orders, size)):
        yield orders(scale, start, count, chunk_rng(scale.seed, ORDER_STREAM, index))


def orders(scale: Scale, start: int = 0, count: int | None = None,
           rng: np.random.Generator | None = None) -> pa.Table:
    """Orders `start + 1` to `start + count` (by default all of them, in one piece), with a `_load` column.

    Customer ids range over all `scale.customers` customers whatever the chunk; a version never leaves its order's
    chunk, so versions, late arrivals and the running maximum of loads are computed within the chunk."""
    rng = rng or chunk_rng(scale.seed, ORDER_STREAM, 0)
    n, c = scale.orders - start if count is None else count, scale.customers
    ids = np.arange(start + 1, start + n + 1, dtype="int64")
    load = _load_of_new(rng, n, scale.loads, first_share=0.8)
    dates = load_dates(scale)
    first_load_day = np.datetime64(dates[0], "D")
    # Historical orders spread over two years before the first load; new ones dated the day before their load.
    back = rng.integers(1, HISTORY_DAYS, n)
    order_day = np.where(load == 0, first_load_day - back, first_load_day + load - 1)

    # Few customers order a lot, most order a little; 1% reference customers that never exist.
    customer = (np.floor(c * rng.random(n) ** 2.5) + 1).astype("int64")
    unknown = rng.random(n) < 0.01
    customer[unknown] = c + 1 + rng.integers(0, max(1, c // 20), unknown.sum())
    null_customer = rng.random(n) < 0.003

    cents = np.maximum(100, np.round(rng.lognormal(np.log(6000), 0.8, n))).astype("int64")
    bad_amount = rng.random(n)
    cents[bad_amount < 0.005] = 0
    cents[(bad_amount >= 0.005) & (bad_amount < 0.01)] *= -1

    weights = np.array(list(FINAL_STATUS_WEIGHTS.values()))
    final = np.array([status_code(s) for s in FINAL_STATUS_WEIGHTS])[rng.choice(len(weights), n, p=weights)]
    final[rng.random(n) < 0.002] = status_code("unknown")

    versions = rng.choice([1, 2, 3], n, p=[0.6, 0.25, 0.15])
    row_order = np.repeat(np.arange(n), versions)  # the row's order, within the chunk
    starts = np.cumsum(versions) - versions
    row_version = np.arange(len(row_order)) - np.repeat(starts, versions)
    row_last = row_version == versions[row_order] - 1
    # Earlier versions walk through pending then shipped; the last one carries the order's final status.
    row_status = np.where(row_last, final[row_order], np.where(row_version == 0, status_code("pending"),
                                                                 status_code("shipped")))
    order_start = order_day.astype("datetime64[us]") + rng.integers(8 * 3600, 20 * 3600, n) * 1_000_000
    step = rng.integers(3600, 72 * 3600, len(row_order)) * 1_000_000
    row_updated = order_start[row_order] + np.where(row_version == 0, 0, step * row_version)

    # A later version lands in the same load or a later one; the last load only holds what is dated before it.
    row_load = load[row_order].copy()
    later = (row_version > 0) & (rng.random(len(row_order)) < 0.5)
    row_load[later] = np.minimum(scale.loads - 1, row_load[later] + rng.integers(1, 3, later.sum()))
    row_load = _running_max(row_load, starts, versions)
    # Late arrivals: for some multi-version orders the newest version lands first and an older one after it.
    late = row_last & (row_version > 0) & (row_load < scale.loads - 1) & (rng.random(len(row_order)) < 0.25)
    late_rows = np.flatnonzero(late)
    row_load[late_rows - 1] = row_load[late_rows] + 1

    rows = len(row_order)
    null_ids = max(1, n // 500)
    null_rows = rng.integers(0, n, null_ids)
    customer_ids = np.concatenate([customer[row_order], customer[null_rows]])
    customer_mask = np.concatenate([null_customer[row_order], null_customer[null_rows]])
    return pa.table({
        "order_id": pa.array(np.concatenate([ids[row_order], np.zeros(null_ids, "int64")]),
                             mask=np.concatenate([np.zeros(rows, bool), np.ones(null_ids, bool)])),
        "customer_id": pa.array(customer_ids, mask=customer_mask),
        "order_date": pa.array(np.concatenate([order_day[row_order], order_day[null_rows]]).astype("datetime64[D]")),
        "amount": pa.array(np.concatenate([cents[row_order], cents[null_rows]]) / 100).cast(pa.decimal128(12, 2)),
        "status": _spelled(rng, np.concatenate([row_status, final[null_rows]])),
        "updated_at": pa.array(np.concatenate([row_updated, order_start[null_rows]])),
        "_load": pa.array(np.concatenate([row_load, load[null_rows]])),
    })


def _running_max(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Running maximum within consecutive groups (a version never lands before the one it follows)."""
    out = values.copy()
    for offset in range(1, int(lengths.max())):
        rows = starts[lengths > offset] + offset
        out[rows] = np.maximum(out[rows], out[rows - 1])
    return out


def by_load(table: pa.Table, scale: Scale, stream: str, first_row: int = 0) -> Iterator[tuple[date, pa.Table]]:
    """Split a dataset (or a chunk of it) into its loads, adding the columns Airbyte's CDC sync writes; only loads
    up to through_load.

    `_airbyte_raw_id` identifies each record (Airbyte writes a UUID; here `<stream>-<seed>-<row>`, as unique; a
    chunk's rows are numbered from `first_row`, the number of rows of the chunks before it, null-id rows included),
    `_airbyte_extracted_at` is the load's time, `_ab_cdc_updated_at` the change's commit time at the source (the
    row's `updated_at`) and `_ab_cdc_deleted_at` stays empty: the generated changes are inserts and updates."""
    dates = load_dates(scale)
    last = scale.through_load or scale.loads
    load = table.column("_load").to_numpy()
    data = table.drop_columns(["_load"])
    rows = pc.cast(pa.array(np.arange(first_row, first_row + len(data), dtype="int64")), pa.string())
    data = data.append_column("_airbyte_raw_id", pc.binary_join_element_wise(f"{stream}-{scale.seed}", rows, "-"))
    data = data.append_column("_airbyte_extracted_at", pa.array(_loaded_at(scale, load)))
    data = data.append_column("_ab_cdc_updated_at", data.column("updated_at"))
    data = data.append_column("_ab_cdc_deleted_at", pa.nulls(len(data), pa.timestamp("us")))
    for i in range(last):  # one load at a time: the caller writes a load's rows before the next is cut out
        yield dates[i], data.filter(pa.array(load == i))
