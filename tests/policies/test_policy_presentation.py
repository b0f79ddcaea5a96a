"""Proves each Superset policy passes the presentation layer's real resources and flags exactly the mutated one."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from policy_eval import SKIPPED, violations

from infra.model.stackfiles import load_stack
from infra.offline.harness import Recording, run_program
from policies import presentation
from tests.support.presentation import presentation_program

OURS = {policy.name for policy in presentation.POLICIES}
RELEASE = "presentation-superset"


@pytest.fixture(scope="module")
def baselines() -> dict[str, Recording]:
    return {stack: run_program(presentation_program(stack), load_stack(stack)) for stack in ("dev", "prod")}


def changed(name: str, mutate: Callable[[dict], None]) -> Callable[[Recording], Recording]:
    def apply(recording: Recording) -> Recording:
        resources = copy.deepcopy(recording.resources)
        (target,) = [resource for resource in resources if resource.name == name]
        mutate(target.inputs)
        return Recording(recording.project, recording.stack, recording.preview, resources)

    return apply


def override(key: str, text: str) -> Callable[[Recording], Recording]:
    return changed(RELEASE, lambda inputs: inputs["values"]["configOverrides"].update({key: text}))


def same(recording: Recording) -> Recording:
    return recording


CASES = {
    "pass_dev": ("dev", same, set()),
    "pass_prod": ("prod", same, set()),
    "fail_known_default_secret_key": (
        "prod", override("zz_secret", "SECRET_KEY = 'CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET'"),
        {("superset-release-configure-secret-key", RELEASE,
          "Release 'superset' uses a known default SECRET_KEY; read a generated key from a Secret (os.environ) "
          "instead.")},
    ),
    "fail_literal_secret_key": (
        "prod", override("zz_secret", 'SECRET_KEY = "a-long-key-pasted-into-values"'),
        {("superset-release-configure-secret-key", RELEASE,
          "Release 'superset' writes SECRET_KEY as a literal into its values; read a generated key from a Secret "
          "(os.environ) instead.")},
    ),
    "fail_no_secret_key": (
        "dev", changed(RELEASE, lambda inputs: inputs["values"]["configOverrides"].pop("secret")),
        {("superset-release-configure-secret-key", RELEASE,
          "Release 'superset' sets no SECRET_KEY; read it from a generated Secret (os.environ) in configOverrides.")},
    ),
    "fail_talisman_off": (
        "prod", override("zz_talisman", "TALISMAN_ENABLED = False"),
        {("superset-release-enable-talisman", RELEASE,
          "Release 'superset' leaves TALISMAN_ENABLED off; set it to True in configOverrides.")},
    ),
    "fail_cookie_and_csrf_off": (
        "prod", override("zz_cookies", "SESSION_COOKIE_SECURE = False\nWTF_CSRF_ENABLED = False"),
        {("superset-release-require-secure-cookies", RELEASE,
          "Release 'superset' leaves SESSION_COOKIE_SECURE, WTF_CSRF_ENABLED off; set them to True in "
          "configOverrides.")},
    ),
    "fail_admin_self_registration": (
        "prod", override("zz_registration", 'AUTH_USER_REGISTRATION = True\nAUTH_USER_REGISTRATION_ROLE = "Admin"'),
        {("superset-release-disallow-admin-self-registration", RELEASE,
          "Release 'superset' lets anyone register as Admin; turn AUTH_USER_REGISTRATION off or give "
          "AUTH_USER_REGISTRATION_ROLE a read-only role.")},
    ),
    "pass_self_registration_as_public": (
        "prod", override("zz_registration", 'AUTH_USER_REGISTRATION = True\nAUTH_USER_REGISTRATION_ROLE = "Public"'),
        set(),
    ),
    "fail_dml_on": (
        "prod", changed("presentation-database-dremio", lambda inputs: inputs.update(allow_dml=True)),
        {("superset-database-disallow-dml", "presentation-database-dremio",
          "Superset database 'dremio' has allow_dml on; turn writes off and keep UseEncryption=true with "
          "disableCertificateVerification=false.")},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_violations(baselines, case):
    stack, mutate, expected = CASES[case]
    found = {item for item in violations(mutate(baselines[stack])) if item[0] in OURS}
    assert found == expected
    assert not [item for item in found if item[2] == SKIPPED]
