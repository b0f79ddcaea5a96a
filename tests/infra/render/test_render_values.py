"""The plan's wire-form values become what Helm gets: whole numbers as ints, and a marked stand-in for every value
the plan cannot know."""

from __future__ import annotations

from infra.offline.harness import SECRET_SIG, SECRET_SIG_VALUE, UNKNOWN
from infra.offline.render.values import STAND_IN_SECRET, StandIn, helm_values


def test_whole_floats_become_ints_and_known_values_stay() -> None:
    values, stand_ins = helm_values({"replicas": 2.0, "ratio": 0.5, "name": "x", "on": True, "items": [1.0, "a"]})
    assert values == {"replicas": 2, "ratio": 0.5, "name": "x", "on": True, "items": [1, "a"]}
    assert isinstance(values["replicas"], int)
    assert stand_ins == []


def test_each_unknown_gets_a_stand_in_named_after_its_path() -> None:
    wire = {
        "global": {"database": {"host": None}},
        "hosts": [UNKNOWN],
        "password": "[secret]",
        "token": {SECRET_SIG: SECRET_SIG_VALUE, "value": UNKNOWN},
        "wrapped": {SECRET_SIG: SECRET_SIG_VALUE, "value": {"port": 5432.0}},
    }
    values, stand_ins = helm_values(wire)
    assert values == {
        "global": {"database": {"host": "plan-stand-in.global-database-host.invalid"}},
        "hosts": ["plan-stand-in.hosts-0.invalid"],
        "password": STAND_IN_SECRET,
        "token": STAND_IN_SECRET,
        "wrapped": {"port": 5432},
    }
    assert stand_ins == [
        StandIn("global.database.host", "null", "plan-stand-in.global-database-host.invalid"),
        StandIn("hosts.0", "unknown", "plan-stand-in.hosts-0.invalid"),
        StandIn("password", "secret", STAND_IN_SECRET),
        StandIn("token", "secret", STAND_IN_SECRET),
    ]


def test_a_stand_in_is_a_hostname_that_can_never_resolve() -> None:
    _, [stand_in] = helm_values({"a" * 80: {"Very_Long.Key": None}})
    labels = stand_in.value.split(".")
    assert labels[0] == "plan-stand-in" and labels[-1] == "invalid"
    assert all(0 < len(label) <= 63 and label == label.lower() for label in labels)
