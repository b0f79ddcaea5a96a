"""Proves every policy has a unique, well-formed id and code, full metadata, and a catalogue entry that is current."""

from __future__ import annotations

import json
import re
from pathlib import Path

from policies.catalogue import render
from policies.common import ID_VERBS, REGISTRY
from policies.registry import POLICIES

ROOT = Path(__file__).resolve().parents[2]
ID = re.compile(rf"^[a-z0-9]+(-[a-z0-9]+)*?-({'|'.join(ID_VERBS)})-[a-z0-9]+(-[a-z0-9]+)*$")
CODE = re.compile(r"^DP-[A-Z0-9]+-\d{3}$")
TAGS = {"encryption", "transport", "audit", "retention", "access", "kubernetes"}


def test_ids_and_codes_are_unique_and_well_formed() -> None:
    ids = [policy.name for policy in POLICIES]
    codes = [REGISTRY[name].code for name in ids]
    assert len(set(ids)) == len(ids)
    assert len(set(codes)) == len(codes)
    assert [name for name in ids if not ID.match(name)] == []
    assert [code for code in codes if not CODE.match(code)] == []
    assert [policy.framework.reference for policy in POLICIES] == codes


def test_every_policy_carries_its_metadata() -> None:
    for policy in POLICIES:
        assert policy.severity is not None, policy.name
        assert policy.tags and set(policy.tags) <= TAGS, policy.name
        steps = policy.remediation_steps or ""
        assert steps.endswith(".") and steps.count(". ") == 0 and steps[0].isupper(), policy.name
        assert policy.url == f"docs/policies.md#{policy.name}"


def test_config_files_name_only_policies_of_the_pack() -> None:
    names = {policy.name for policy in POLICIES} | {"all"}
    dev = json.loads((ROOT / "policies/config/dev.json").read_text())
    prod = json.loads((ROOT / "policies/config/prod.json").read_text())
    assert set(dev) <= names and set(prod) <= names
    assert dev["all"] == "advisory" and prod["all"] == "mandatory"
    assert not [name for name, value in prod.items() if isinstance(value, str) and value != "mandatory"]


def test_committed_catalogue_matches_the_pack() -> None:
    committed = (ROOT / "docs/policies.md").read_text()
    assert committed == render(), "docs/policies.md is stale; run `make policy-docs`"
