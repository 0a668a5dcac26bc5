#!/usr/bin/env python3
"""Known-answer test vectors for acme-core (RFC 8555 ACME client).

What this generates
-------------------
Writes ``vectors.json`` next to this script, containing:

* ``keys``: P-256 account keys built from fixed private scalars.  For each key:
  the scalar (64 hex chars), its SEC1 ``ECPrivateKey`` DER (OpenSSL
  "traditional" / ``EC PRIVATE KEY``) and PKCS#8 ``PrivateKeyInfo`` DER, the
  RFC 7638 canonical public JWK string (``{"crv","kty","x","y"}`` in that
  order, no whitespace, 32-byte fixed-width big-endian coordinates, base64url
  without padding), its RFC 7638 SHA-256 thumbprint, and two challenges with
  the RFC 8555 section 8.1 key authorization (``token "." thumbprint``) and the
  section 8.4 dns-01 TXT value (base64url(SHA-256(key authorization))).
  The keys cover: an arbitrary scalar, the first scalar in the sequence
  sha256(b"acme-core-kat-N") whose x coordinate has a leading zero byte, the
  same for the y coordinate, and the small scalar 7.
* ``ari``: RFC 9773 (ACME Renewal Information) CertIDs,
  base64url(AKI keyIdentifier) "." base64url(DER INTEGER content octets of
  the serial):
    1. the example certificate of RFC 9773 Appendix A (expected CertID
       "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", asserted below);
    2. a generated leaf with serial 0x0087654321 (DER content starts with a
       0x00 pad byte);
    3. a generated leaf with serial 0x1234567890abcdef (no pad byte).
  The generated leaves are issued by a generated P-256 CA, signed with
  ECDSA-SHA256 using deterministic (RFC 6979) nonces, have fixed validity
  2026-01-01T00:00:00Z .. 2027-01-01T00:00:00Z and SANs
  dNSName device.example.com and iPAddress 192.0.2.7.

Everything is deterministic: fixed scalars, no randomness, RFC 6979
signatures, so re-running the script reproduces vectors.json byte for byte
(only the "generator" line names the installed library versions).

Each CertID and thumbprint is computed from the raw bytes, and the AKI and
serial are also re-read with a small DER walker below (independently of the
``cryptography`` X.509 accessors); the script aborts if they disagree.

How to re-run
-------------
From the repository root::

    python3 acme-core/tests/data/gen_vectors.py

Requires Python 3 and the ``cryptography`` package (written against 48.x,
which supports ``ecdsa_deterministic`` in ``CertificateBuilder.sign``).
"""

import base64
import datetime
import hashlib
import ipaddress
import json
import os

import cryptography
from cryptography import x509
from cryptography.hazmat.backends.openssl import backend as _backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")

# Order of the P-256 group.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --------------------------------------------------------------------------
# Minimal DER reader, used to cross-check values independently of the
# cryptography X.509 accessors.
# --------------------------------------------------------------------------


def der_read(buf: bytes, pos: int):
    """Read one TLV at pos. Returns (tag, content_start, content_end)."""
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte tags not supported")
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        nbytes = length & 0x7F
        if nbytes == 0 or nbytes > 4:
            raise ValueError("unsupported length encoding")
        length = int.from_bytes(buf[pos : pos + nbytes], "big")
        pos += nbytes
    end = pos + length
    if end > len(buf):
        raise ValueError("truncated DER")
    return tag, pos, end


def der_children(buf: bytes, start: int, end: int):
    out = []
    pos = start
    while pos < end:
        tag, cs, ce = der_read(buf, pos)
        out.append((tag, cs, ce))
        pos = ce
    return out


def der_cert_serial_and_aki(cert_der: bytes):
    """Return (serial content octets, AKI keyIdentifier) read straight from DER."""
    tag, cs, ce = der_read(cert_der, 0)
    assert tag == 0x30
    tbs_tag, tcs, tce = der_children(cert_der, cs, ce)[0]
    assert tbs_tag == 0x30
    fields = der_children(cert_der, tcs, tce)
    idx = 0
    if fields[0][0] == 0xA0:  # [0] EXPLICIT version
        idx = 1
    s_tag, scs, sce = fields[idx]
    assert s_tag == 0x02, "serialNumber must be an INTEGER"
    serial = cert_der[scs:sce]
    aki = None
    for f_tag, fcs, fce in fields:
        if f_tag != 0xA3:  # [3] EXPLICIT extensions
            continue
        _, ecs, ece = der_read(cert_der, fcs)  # Extensions SEQUENCE
        for _, xcs, xce in der_children(cert_der, ecs, ece):
            parts = der_children(cert_der, xcs, xce)
            oid = cert_der[parts[0][1] : parts[0][2]]
            if oid != bytes([0x55, 0x1D, 0x23]):  # 2.5.29.35 authorityKeyIdentifier
                continue
            octets = parts[-1]
            assert octets[0] == 0x04
            _, acs, ace = der_read(cert_der, octets[1])  # AuthorityKeyIdentifier SEQ
            for k_tag, kcs, kce in der_children(cert_der, acs, ace):
                if k_tag == 0x80:  # [0] IMPLICIT keyIdentifier
                    aki = cert_der[kcs:kce]
    return serial, aki


def der_sec1_scalar(sec1_der: bytes) -> bytes:
    """privateKey OCTET STRING of an ECPrivateKey."""
    _, cs, ce = der_read(sec1_der, 0)
    kids = der_children(sec1_der, cs, ce)
    assert kids[0][0] == 0x02 and sec1_der[kids[0][1] : kids[0][2]] == b"\x01"
    assert kids[1][0] == 0x04
    return sec1_der[kids[1][1] : kids[1][2]]


def int_der_content(n: int) -> bytes:
    """Content octets of a DER INTEGER for a non-negative n (minimal, with pad)."""
    length = n.bit_length() // 8 + 1  # always room for a clear sign bit
    raw = n.to_bytes(length, "big")
    while len(raw) > 1 and raw[0] == 0 and raw[1] < 0x80:
        raw = raw[1:]
    return raw


# --------------------------------------------------------------------------
# Account keys, JWK thumbprints, challenges
# --------------------------------------------------------------------------


def key_from_scalar(d: int) -> ec.EllipticCurvePrivateKey:
    assert 1 <= d < P256_N
    return ec.derive_private_key(d, ec.SECP256R1())


def coords(key: ec.EllipticCurvePrivateKey):
    nums = key.public_key().public_numbers()
    return nums.x.to_bytes(32, "big"), nums.y.to_bytes(32, "big")


def search_scalar(pred):
    """First sha256(b"acme-core-kat-N") scalar, N = 0, 1, ..., whose key satisfies pred."""
    n = 0
    while True:
        d = int.from_bytes(sha256(b"acme-core-kat-%d" % n), "big")
        if 1 <= d < P256_N:
            x, y = coords(key_from_scalar(d))
            if pred(x, y):
                return n, d
        n += 1


def canonical_jwk(key: ec.EllipticCurvePrivateKey) -> str:
    x, y = coords(key)
    # RFC 7638 section 3.2: required members only, lexicographic order, no whitespace.
    return '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (b64u(x), b64u(y))


def key_vector(name: str, d: int, note: str) -> dict:
    key = key_from_scalar(d)
    sec1 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Self-checks: both encodings load back to the same scalar, and the
    # SEC1 privateKey octet string is the fixed-width 32-byte scalar.
    assert serialization.load_der_private_key(sec1, None).private_numbers().private_value == d
    assert serialization.load_der_private_key(pkcs8, None).private_numbers().private_value == d
    assert der_sec1_scalar(sec1) == d.to_bytes(32, "big")

    jwk = canonical_jwk(key)
    # The JWK string is valid JSON whose members decode to the public point.
    parsed = json.loads(jwk)
    assert list(parsed) == ["crv", "kty", "x", "y"]
    assert len(parsed["x"]) == 43 and len(parsed["y"]) == 43
    thumbprint = b64u(sha256(jwk.encode("ascii")))

    challenges = []
    for i in (1, 2):
        token = b64u(sha256(b"acme-core-kat-token-%s-%d" % (name.encode(), i)))
        assert len(token) == 43
        key_authz = token + "." + thumbprint
        challenges.append(
            {
                "token": token,
                "key_authorization": key_authz,
                "dns01_value": b64u(sha256(key_authz.encode("ascii"))),
            }
        )
    return {
        "name": name,
        "note": note,
        "scalar_hex": d.to_bytes(32, "big").hex(),
        "sec1_der_hex": sec1.hex(),
        "pkcs8_der_hex": pkcs8.hex(),
        "jwk": jwk,
        "thumbprint": thumbprint,
        "challenges": challenges,
    }


def build_keys():
    d1 = int.from_bytes(sha256(b"acme-core-kat-k1"), "big")
    nx, dx = search_scalar(lambda x, y: x[0] == 0)
    ny, dy = search_scalar(lambda x, y: y[0] == 0)
    return [
        key_vector("k1", d1, 'scalar = sha256(b"acme-core-kat-k1")'),
        key_vector(
            "k2",
            dx,
            'scalar = sha256(b"acme-core-kat-%d"), the first N >= 0 whose x coordinate '
            "starts with a 0x00 byte" % nx,
        ),
        key_vector(
            "k3",
            dy,
            'scalar = sha256(b"acme-core-kat-%d"), the first N >= 0 whose y coordinate '
            "starts with a 0x00 byte" % ny,
        ),
        key_vector("k4", 7, "scalar = 7 (small scalar, leading zero bytes in the scalar)"),
    ]


# --------------------------------------------------------------------------
# ARI CertIDs
# --------------------------------------------------------------------------

# RFC 9773, Appendix A "Example Certificate".
RFC9773_CERT_PEM = """-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----
"""
RFC9773_CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
RFC9773_AKI_HEX = "69885b6b87464041e1b37b847ba0ae2cde01c8d4"
RFC9773_SERIAL_HEX = "0087654321"


def ari_common(cert: x509.Certificate, source: str) -> dict:
    der = cert.public_bytes(serialization.Encoding.DER)
    serial_der, aki_der = der_cert_serial_and_aki(der)
    # Independent routes must agree: the DER walker vs. cryptography's accessors.
    aki_ext = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki_der is not None and aki_der == aki_ext.key_identifier
    assert serial_der == int_der_content(cert.serial_number)
    return {
        "source": source,
        "cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "aki_key_id_hex": aki_der.hex(),
        "serial_hex": serial_der.hex(),
        "cert_id": b64u(aki_der) + "." + b64u(serial_der),
    }


def rfc9773_entry() -> dict:
    cert = x509.load_pem_x509_certificate(RFC9773_CERT_PEM.encode("ascii"))
    entry = ari_common(cert, "RFC 9773 Appendix A")
    assert entry["cert_pem"] == RFC9773_CERT_PEM  # PEM round-trips byte for byte
    assert entry["aki_key_id_hex"] == RFC9773_AKI_HEX
    assert entry["serial_hex"] == RFC9773_SERIAL_HEX
    assert entry["cert_id"] == RFC9773_CERT_ID
    return entry


CA_SCALAR = int.from_bytes(sha256(b"acme-core-kat-ari-ca"), "big")
LEAF_SCALAR = int.from_bytes(sha256(b"acme-core-kat-ari-leaf"), "big")
UTC = datetime.timezone.utc
CA_NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=UTC)
CA_NOT_AFTER = datetime.datetime(2035, 1, 1, tzinfo=UTC)
LEAF_NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=UTC)
LEAF_NOT_AFTER = datetime.datetime(2027, 1, 1, tzinfo=UTC)
SAN_DNS = "device.example.com"
SAN_IP = "192.0.2.7"


def make_ca():
    key = key_from_scalar(CA_SCALAR)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme-core KAT CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(CA_NOT_BEFORE)
        .not_valid_after(CA_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return key, cert


def make_leaf(ca_key, ca_cert, serial: int) -> x509.Certificate:
    key = key_from_scalar(LEAF_SCALAR)
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SAN_DNS)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(LEAF_NOT_BEFORE)
        .not_valid_after(LEAF_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SAN_DNS), x509.IPAddress(ipaddress.ip_address(SAN_IP))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)
    )


def generated_entry(ca_key, ca_cert, serial: int, expect_pad: bool) -> dict:
    leaf = make_leaf(ca_key, ca_cert, serial)
    # The leaf verifies under the CA key.
    leaf.verify_directly_issued_by(ca_cert)
    entry = ari_common(leaf, "generated by gen_vectors.py")
    assert entry["serial_hex"].startswith("00") == expect_pad
    assert int(entry["serial_hex"], 16) == serial

    sans = []
    for gn in leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value:
        if isinstance(gn, x509.DNSName):
            sans.append("dns:" + gn.value)
        elif isinstance(gn, x509.IPAddress):
            sans.append("ip:" + str(gn.value))
    assert sans == ["dns:" + SAN_DNS, "ip:" + SAN_IP]

    nb = int(leaf.not_valid_before_utc.timestamp())
    na = int(leaf.not_valid_after_utc.timestamp())
    assert (nb, na) == (1767225600, 1798761600)
    entry.update(
        {
            "not_before_unix": nb,
            "not_after_unix": na,
            "sans": sans,
            "spki_der_hex": leaf.public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .hex(),
            "leaf_scalar_hex": LEAF_SCALAR.to_bytes(32, "big").hex(),
            "issuer_cert_pem": ca_cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        }
    )
    return entry


def build_ari():
    ca_key, ca_cert = make_ca()
    return [
        rfc9773_entry(),
        generated_entry(ca_key, ca_cert, 0x0087654321, expect_pad=True),
        generated_entry(ca_key, ca_cert, 0x1234567890ABCDEF, expect_pad=False),
    ]


def main():
    doc = {
        "generator": (
            "acme-core/tests/data/gen_vectors.py with python cryptography %s (%s); "
            "fixed scalars, RFC 6979 deterministic ECDSA-SHA256, no randomness"
            % (cryptography.__version__, _backend.openssl_version_text())
        ),
        "keys": build_keys(),
        "ari": build_ari(),
    }
    with open(OUT_PATH, "w", encoding="utf-8", newline="\n") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print("wrote", OUT_PATH)


if __name__ == "__main__":
    main()
