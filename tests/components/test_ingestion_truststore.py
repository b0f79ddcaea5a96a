"""The job pods' trust store is a JKS the JDK itself reads: keytool lists every certificate of the PEM bundle as a
trusted entry, and refuses the store under another password (its integrity check)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from components.ingestion.truststore import certificates, jks


def keytool() -> str:
    found = shutil.which("keytool")
    if found is None:
        pytest.skip("keytool (a JDK) is not installed: the trust store is not checked against the JDK")
    return found


def certificate_pem(tmp_path: Path, name: str) -> str:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate to build a trust store from")
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}", "-days", "2"],
                   check=True, capture_output=True)
    return cert.read_text()


def listing(tool: str, store: Path, password: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool, "-list", "-keystore", str(store), "-storetype", "JKS", "-storepass", password],
                          capture_output=True, text=True)


def test_the_jdk_reads_every_certificate_as_trusted(tmp_path: Path) -> None:
    tool = keytool()
    bundle = certificate_pem(tmp_path, "platform-ca") + certificate_pem(tmp_path, "second-ca")
    store = tmp_path / "truststore.jks"
    store.write_bytes(jks(bundle))
    listed = listing(tool, store, "changeit")
    assert listed.returncode == 0, listed.stderr
    assert "Your keystore contains 2 entries" in listed.stdout
    assert "platform-ca, " in listed.stdout and "platform-ca-1, " in listed.stdout
    assert listed.stdout.count("trustedCertEntry") == 2
    refused = listing(tool, store, "not-the-password")
    assert refused.returncode != 0 and "password was incorrect" in refused.stdout + refused.stderr


def test_the_store_is_the_same_bytes_for_the_same_certificates(tmp_path: Path) -> None:
    pem = certificate_pem(tmp_path, "platform-ca")
    assert jks(pem) == jks(pem)
    assert len(certificates(pem)) == 1


def test_a_bundle_without_a_certificate_is_refused() -> None:
    with pytest.raises(ValueError, match="no PEM certificate"):
        jks("not a certificate")
