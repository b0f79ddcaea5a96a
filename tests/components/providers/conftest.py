"""What every provider test module shares: a certificate authority and a server certificate for the stand-ins,
made once per module (tests/support/tls.py)."""

from __future__ import annotations

import pytest

from tests.support.tls import make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))
