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
CONFIG = "presentation-superset-pythonpath"  # the ConfigMap that carries superset_config.py
LABEL = "ConfigMap 'superset-pythonpath' (superset_config.py)"


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


def appended(text: str) -> Callable[[Recording], Recording]:
    """superset_config.py with `text` appended (a later assignment wins, as in Python)."""
    def edit(inputs: dict) -> None:
        inputs["data"]["superset_config.py"] += f"\n{text}\n"

    return changed(CONFIG, edit)


def without_line(prefix: str) -> Callable[[Recording], Recording]:
    def edit(inputs: dict) -> None:
        lines = inputs["data"]["superset_config.py"].splitlines()
        inputs["data"]["superset_config.py"] = "\n".join(line for line in lines if not line.startswith(prefix))

    return changed(CONFIG, edit)


def moved_to_a_secret(text: str) -> Callable[[Recording], Recording]:
    """The file carried by a Secret's stringData instead, with `text` appended: judged the same."""
    def edit(recording: Recording) -> Recording:
        resources = copy.deepcopy(recording.resources)
        (config,) = [resource for resource in resources if resource.name == CONFIG]
        config.type = "kubernetes:core/v1:Secret"
        config.inputs["stringData"] = {"superset_config.py": config.inputs.pop("data")["superset_config.py"] +
                                       f"\n{text}\n"}
        return Recording(recording.project, recording.stack, recording.preview, resources)

    return edit


def same(recording: Recording) -> Recording:
    return recording


CASES = {
    "pass_dev": ("dev", same, set()),
    "pass_prod": ("prod", same, set()),
    "fail_known_default_secret_key": (
        "prod", appended("SECRET_KEY = 'CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET'"),
        {("superset-config-configure-secret-key", CONFIG,
          f"{LABEL} uses a known default SECRET_KEY; read a generated key from a Secret (os.environ) "
          "instead.")},
    ),
    "fail_literal_secret_key": (
        "prod", appended('SECRET_KEY = "a-long-key-pasted-into-values"'),
        {("superset-config-configure-secret-key", CONFIG,
          f"{LABEL} writes SECRET_KEY as a literal; read a generated key from a Secret "
          "(os.environ) instead.")},
    ),
    "fail_no_secret_key": (
        "dev", without_line("SECRET_KEY"),
        {("superset-config-configure-secret-key", CONFIG,
          f"{LABEL} sets no SECRET_KEY; read it from a generated Secret (os.environ).")},
    ),
    "fail_talisman_off": (
        "prod", appended("TALISMAN_ENABLED = False"),
        {("superset-config-enable-talisman", CONFIG,
          f"{LABEL} leaves TALISMAN_ENABLED off; set it to True.")},
    ),
    "fail_cookie_and_csrf_off": (
        "prod", appended("SESSION_COOKIE_SECURE = False\nWTF_CSRF_ENABLED = False"),
        {("superset-config-require-secure-cookies", CONFIG,
          f"{LABEL} leaves SESSION_COOKIE_SECURE, WTF_CSRF_ENABLED off; set them to True.")},
    ),
    "fail_admin_self_registration": (
        "prod", appended('AUTH_USER_REGISTRATION = True\nAUTH_USER_REGISTRATION_ROLE = "Admin"'),
        {("superset-config-disallow-admin-self-registration", CONFIG,
          f"{LABEL} lets anyone register as Admin; turn AUTH_USER_REGISTRATION off or give "
          "AUTH_USER_REGISTRATION_ROLE a read-only role.")},
    ),
    "fail_talisman_off_in_a_secret": (
        "prod", moved_to_a_secret("TALISMAN_ENABLED = False"),
        {("superset-config-enable-talisman", CONFIG,
          "Secret 'superset-pythonpath' (superset_config.py) leaves TALISMAN_ENABLED off; set it to True.")},
    ),
    "pass_self_registration_as_public": (
        "prod", appended('AUTH_USER_REGISTRATION = True\nAUTH_USER_REGISTRATION_ROLE = "Public"'),
        set(),
    ),
    # Read as Python reads it: comments, annotations and layout do not matter; a later assignment that may run wins.
    "pass_talisman_with_a_comment": ("prod", appended("TALISMAN_ENABLED = True  # security headers"), set()),
    "pass_cookie_switches_annotated_and_chained": (
        "prod", appended("SESSION_COOKIE_SECURE: bool = True\nSESSION_COOKIE_HTTPONLY = WTF_CSRF_ENABLED = True"),
        set(),
    ),
    "fail_talisman_off_in_a_later_branch": (
        "prod", appended("if os.environ.get('SUPERSET_ENV') == 'debug':\n    TALISMAN_ENABLED = False"),
        {("superset-config-enable-talisman", CONFIG, f"{LABEL} leaves TALISMAN_ENABLED off; set it to True.")},
    ),
    "fail_secret_key_with_a_literal_fallback": (
        "prod", appended("SECRET_KEY = os.environ.get('SUPERSET_SECRET_KEY', 'dev-key-please-change')"),
        {("superset-config-configure-secret-key", CONFIG,
          f"{LABEL} falls back to a literal SECRET_KEY when its variable is unset; read it with os.environ[...] so a "
          "missing Secret stops Superset instead.")},
    ),
    "fail_admin_self_registration_role_computed": (
        "prod", appended("AUTH_USER_REGISTRATION = True\nAUTH_USER_REGISTRATION_ROLE = os.environ['ROLE']"),
        {("superset-config-disallow-admin-self-registration", CONFIG,
          f"{LABEL} lets anyone register as Admin; turn AUTH_USER_REGISTRATION off or give "
          "AUTH_USER_REGISTRATION_ROLE a read-only role.")},
    ),
    "fail_dml_on": (
        "prod", changed("presentation-database-dremio", lambda inputs: inputs.update(allow_dml=True)),
        {("superset-database-disallow-dml", "presentation-database-dremio",
          "Superset database 'dremio' has allow_dml on; set allow_dml to false.")},
    ),
    "fail_flight_without_verification": (
        "prod", changed("presentation-database-dremio", lambda inputs: inputs.update(
            uri=inputs["uri"].replace("disableCertificateVerification=false", "disableCertificateVerification=true"))),
        {("superset-database-disallow-dml", "presentation-database-dremio",
          "Superset database 'dremio' has a Flight URI without encryption and certificate verification; add "
          "UseEncryption=true and disableCertificateVerification=false to its URI.")},
    ),
    "fail_writes_and_flight_without_encryption": (
        "prod", changed("presentation-database-dremio", lambda inputs: inputs.update(
            allow_ctas=True, uri=inputs["uri"].replace("UseEncryption=true", "UseEncryption=false"))),
        {("superset-database-disallow-dml", "presentation-database-dremio",
          "Superset database 'dremio' has allow_ctas on; a Flight URI without encryption and certificate "
          "verification; set allow_ctas to false and add UseEncryption=true and "
          "disableCertificateVerification=false to its URI.")},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_violations(baselines, case):
    stack, mutate, expected = CASES[case]
    found = {item for item in violations(mutate(baselines[stack])) if item[0] in OURS}
    assert found == expected
    assert not [item for item in found if item[2] == SKIPPED]


def test_a_config_python_cannot_parse_is_reported_by_each_config_policy(baselines):
    broken = appended("TALISMAN_ENABLED = (True")(baselines["prod"])
    found = {item for item in violations(broken) if item[0] in OURS}
    expected = f"{LABEL} is not valid Python (line "
    assert {policy for policy, _, _ in found} == {
        "superset-config-configure-secret-key", "superset-config-enable-talisman",
        "superset-config-require-secure-cookies", "superset-config-disallow-admin-self-registration"}
    assert all(resource == CONFIG and message.startswith(expected) for _, resource, message in found), found
