"""Writes the certificates the client_flow fuzz target serves.

match.pem matches the target's CSR (device key: scalar 0x22 repeated,
identifier device.example.com); wrong-key.pem has another key and
wrong-san.pem another name. Made with Python's `cryptography`.

Run from this directory: python3 gen_certs.py
"""
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def key(b):
    return ec.derive_private_key(int.from_bytes(bytes([b]) * 32, "big"), ec.SECP256R1())


ca, device, other = key(0x5A), key(0x22), key(0x77)
t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def cert(pub, names, serial, issuer_key, subject, issuer, ca_flag=False):
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(pub)
        .serial_number(serial)
        .not_valid_before(t0)
        .not_valid_after(t0 + datetime.timedelta(days=90))
    )
    if names:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    if ca_flag:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


caname = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz CA")])
root = cert(ca.public_key(), None, 1, ca, caname, caname, True)


def pem(c):
    return c.public_bytes(serialization.Encoding.PEM).decode()


for fname, pub, names in [
    ("match.pem", device.public_key(), ["device.example.com"]),
    ("wrong-key.pem", other.public_key(), ["device.example.com"]),
    ("wrong-san.pem", device.public_key(), ["other.example.com"]),
]:
    with open(fname, "w") as f:
        f.write(pem(cert(pub, names, 0x1234, ca, x509.Name([]), caname)) + pem(root))
