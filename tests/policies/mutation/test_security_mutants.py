"""Every realistic security mistake of the suite is stopped by a policy mandatory in prod (or refused by the config
model) with exactly the findings it names; every secure variant passes; every policy stops at least one mistake."""

from __future__ import annotations

from functools import cache

import pytest

from infra.offline.security_mutants import LAYERS, MUTATIONS, Bench, Mutation

pytestmark = pytest.mark.integration


@cache
def bench(stack: str) -> Bench:
    # Rendering (the chart cache through Helm) only for a stack that has rendered mutations.
    return Bench(stack, render=any(m.layer == "rendered" and m.stack == stack for m in MUTATIONS))


@pytest.fixture(scope="session", autouse=True)
def _close_benches():
    yield
    for stack in ("dev", "prod"):
        if bench.cache_info().currsize:
            bench(stack).close()


def _param(mutation: Mutation):
    marks = [pytest.mark.xfail(strict=True, reason=mutation.missing)] if mutation.missing else []
    return pytest.param(mutation, id=mutation.id, marks=marks)


def _skip_unrendered(mutation: Mutation) -> None:
    if mutation.layer == "rendered" and not bench(mutation.stack).rendered:
        pytest.skip("the chart cache holds no pinned chart (make chart-cache): nothing rendered to mutate")


@pytest.mark.parametrize("mutation", [_param(m) for m in MUTATIONS if not m.secure])
def test_each_mistake_is_stopped_by_exactly_the_findings_it_names(mutation: Mutation):
    _skip_unrendered(mutation)
    verdict = bench(mutation.stack).judge(mutation)
    if mutation.refused:
        assert verdict.refused, f"{mutation.what}: not refused by the config model; {verdict.describe()}"
        return
    assert not verdict.refused, f"{mutation.what}: {verdict.describe()}"
    assert verdict.added == set(mutation.expect), f"{mutation.what}: {verdict.describe()}"
    prod = bench("prod").config
    weak = sorted(policy for policy, _ in mutation.expect if prod[policy][0] != "mandatory")
    assert not weak, f"{mutation.what}: stopped only by policies not mandatory in prod: {weak}"


@pytest.mark.parametrize("mutation", [_param(m) for m in MUTATIONS if m.secure])
def test_each_secure_variant_passes(mutation: Mutation):
    _skip_unrendered(mutation)
    verdict = bench(mutation.stack).judge(mutation)
    assert not verdict.refused and not verdict.added, f"{mutation.what}: {verdict.describe()}"


def test_every_mandatory_policy_is_the_expected_stopper_of_a_mistake():
    stopping = {policy for mutation in MUTATIONS if not mutation.missing for policy, _ in mutation.expect}
    prod = bench("prod").config
    idle = sorted(policy for policy, (level, _) in prod.items() if level == "mandatory" and policy not in stopping)
    assert not idle, f"policies that stop no mistake of the suite (add one): {idle}"


def test_the_suite_is_large_and_spans_every_layer():
    mistakes = [mutation for mutation in MUTATIONS if not mutation.secure]
    assert len(mistakes) >= 100 and sum(mutation.secure for mutation in MUTATIONS) >= 20
    assert {mutation.layer for mutation in mistakes} == set(LAYERS)
    assert len({mutation.id for mutation in MUTATIONS}) == len(MUTATIONS)
