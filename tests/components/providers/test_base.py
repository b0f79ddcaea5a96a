"""The dynamic-provider base: bounded backoff without sleeping, unknown inputs at preview, key changes replace."""

from __future__ import annotations

import pytest

from components.kit.rest import UNKNOWN_INPUT, ProviderError, RestProvider, Retry


class FlakyError(Exception):
    pass


def test_backoff_doubles_up_to_the_cap_and_gives_up_after_the_last_attempt():
    slept: list[float] = []
    retry = Retry(attempts=6, initial=0.5, factor=2, max_delay=4, sleep=slept.append)
    calls = []

    def always_failing():
        calls.append(1)
        raise FlakyError("503")

    with pytest.raises(ProviderError, match=r"thing: still failing after 6 attempts: FlakyError\(.503.\)"):
        retry.run(always_failing, lambda error: isinstance(error, FlakyError), "thing")
    assert (len(calls), slept) == (6, [0.5, 1.0, 2.0, 4.0, 4.0])


def test_a_permanent_error_is_not_retried():
    slept: list[float] = []
    with pytest.raises(ProviderError, match=r"thing: ValueError\(.bad body.\)"):
        Retry(sleep=slept.append).run(lambda: (_ for _ in ()).throw(ValueError("bad body")),
                                      lambda error: False, "thing")
    assert slept == []


class Named(RestProvider):
    def key(self, props):
        return props["name"]

    def spec(self, props):
        return {"body": props["body"]}


def test_diff_of_unknown_inputs_says_may_change_and_never_replaces():
    result = Named().diff("a", {"key": "a"}, {"name": "a", "body": UNKNOWN_INPUT, "connection": {}})
    assert (result.changes, result.replaces) == (True, None)


def test_a_new_key_replaces_the_object_deleting_the_old_one_first():
    result = Named().diff("a", {"key": "a"}, {"name": "b", "body": 1, "connection": {}})
    assert (result.changes, result.replaces, result.delete_before_replace) == (True, ["key"], True)


def _sorting_wrappers() -> int:
    """How many of the SDK's sorting wrappers sit around the pickler's `_batch_setitems`."""
    import pickle

    function, depth = pickle._Pickler._batch_setitems, 0
    while function.__closure__:
        inner = [cell.cell_contents for cell in function.__closure__ if callable(cell.cell_contents)]
        if not inner:
            break
        function, depth = inner[0], depth + 1
    return depth


def test_dynamic_resources_do_not_stack_the_sdks_pickler_wrappers() -> None:
    """The SDK wraps the pickler once per dynamic resource and never unwraps: 1000 resources overflowed the stack."""
    from components.runtime.trust_bundle import TrustBundleFile
    from infra.model.stackfiles import load_stack
    from infra.offline.harness import run_program

    def program() -> None:
        for index in range(40):
            TrustBundleFile(f"bundle-{index}", pem="-----BEGIN CERTIFICATE-----", path="/tmp/ca.pem")

    first = run_program(program, load_stack("dev"))
    second = run_program(program, load_stack("dev"))
    assert _sorting_wrappers() == 1
    # Serialisation stays deterministic: every resource carries the same pickled provider, run after run.
    providers = {str(resource.inputs["__provider"]) for resource in [*first.resources, *second.resources]}
    assert len(first.resources) == 40 and len(providers) == 1
