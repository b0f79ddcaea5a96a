"""A Java trust store (JKS) holding PEM certificates, for the job pods' orchestrator, whose JVM reads no PEM file.

Pure and deterministic (entry dates are the epoch, aliases follow the certificates' order), so the Secret that carries
it changes only when the certificates do. The format is the JDK's `JKS` keystore with trusted-certificate entries
only: magic, version 2, the entries, then a SHA-1 over the password, the JDK's fixed salt and the entries; a JDK
reads it with `-Djavax.net.ssl.trustStoreType=JKS` (tests/components/test_ingestion_truststore.py lists it with the
JDK's keytool).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct

MAGIC = 0xFEEDFEED
VERSION = 2
TRUSTED_CERTIFICATE = 2
SALT = b"Mighty Aphrodite"  # the JDK's JavaKeyStore integrity salt
PEM = re.compile(r"-----BEGIN CERTIFICATE-----(?P<body>.*?)-----END CERTIFICATE-----", re.DOTALL)


def _der(body: str) -> bytes:
    """A PEM block's bytes: base64 with line breaks (and, as RFC 7468 lets parsers do, anything else outside the
    alphabet) left out; a last character that carries less than a byte is dropped (a certificate's block has
    none: only the offline plan's placeholder certificates do)."""
    text = re.sub(r"[^A-Za-z0-9+/]", "", body)
    text = text[: len(text) - 1] if len(text) % 4 == 1 else text
    return base64.b64decode(text + "=" * (-len(text) % 4))


def certificates(pem: str) -> list[bytes]:
    """The DER bytes of every certificate in a PEM bundle, in order."""
    found = [_der(match["body"]) for match in PEM.finditer(pem)]
    if not found:
        raise ValueError("no PEM certificate in the bundle")
    return found


def _utf(text: str) -> bytes:
    encoded = text.encode("utf-8")
    return struct.pack(">H", len(encoded)) + encoded


def jks(pem: str, password: str = "changeit", alias: str = "platform-ca") -> bytes:
    """A JKS trust store with every certificate of `pem` as a trusted entry (`<alias>`, `<alias>-1`, ...)."""
    body = struct.pack(">III", MAGIC, VERSION, len(certificates(pem)))
    for index, der in enumerate(certificates(pem)):
        name = alias if index == 0 else f"{alias}-{index}"
        body += struct.pack(">I", TRUSTED_CERTIFICATE) + _utf(name) + struct.pack(">Q", 0)
        body += _utf("X.509") + struct.pack(">I", len(der)) + der
    keyed = b"".join(struct.pack(">H", ord(char)) for char in password) + SALT
    return body + hashlib.sha1(keyed + body, usedforsecurity=False).digest()
