"""Builds the committed seed corpora from a recorded Pebble transcript.

Record one with the host tool (it writes NNN-request.bin/NNN-response.bin):

    ACME_RECORD_DIR=/tmp/rec ./target/release/acme demo

then, from this directory:

    python3 make_seeds.py /tmp/rec

The response order of a cold http-01 enrolment is: directory, nonce,
account, order, authorization, challenge, finalize (order), order,
certificate. A few seeds that Pebble cannot produce (a problem document
with subproblems, renewalInfo, header values) are written by hand below.
"""
import base64
import os
import sys

rec = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(here, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def split(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, body


def dechunk(body):
    out = b""
    while True:
        line, _, rest = body.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return out
        out += rest[:size]
        body = rest[size + 2:]


responses = sorted(f for f in os.listdir(rec) if f.endswith("-response.bin"))
raw = [open(os.path.join(rec, f), "rb").read() for f in responses]
for i, r in enumerate(raw):
    put("http_response_head", f"pebble-{i + 1:03}", r)
kinds = ["json_directory", None, "json_account", "json_order", "json_authorization",
         "json_challenge", "json_order", "json_order", None]
for i, (r, kind) in enumerate(zip(raw, kinds)):
    if kind:
        put(kind, f"pebble-{i + 1:03}", split(r)[1])
head, body = split(raw[8])
put("http_chunked_body", "pebble-certificate", body)
chain = dechunk(body) if b"chunked" in head.lower() else body
put("pem_chain", "pebble-chain", chain)
leaf_b64 = chain.split(b"-----END CERTIFICATE-----")[0].split(b"-----BEGIN CERTIFICATE-----")[1]
leaf = base64.b64decode(b"".join(leaf_b64.split()))
put("certificate", "pebble-leaf", leaf)
put("http_content_length_body", "short", len(b'{"status":"valid"}').to_bytes(2, "little") + b'{"status":"valid"}')
for line in head.split(b"\r\n"):
    name, _, value = line.partition(b": ")
    if name.lower() == b"link":
        put("header_link", "pebble-link", value)
    if name.lower() == b"replay-nonce":
        put("header_replay_nonce", "pebble-nonce", value)
        put("base64url_decode", "pebble-nonce", value)
put("header_link", "multi", b'<https://ca/a>;rel="alternate", <https://ca/o?c=2>;title="a, b";rel="next"')
put("header_retry_after", "seconds", b"120")
put("header_retry_after", "http-date", b"Sun, 06 Nov 1994 08:49:37 GMT")
put("header_retry_after", "rfc3339", b"2026-01-01T00:00:00.123Z")
put("json_problem", "bad-nonce", b'{"type":"urn:ietf:params:acme:error:badNonce","detail":"JWS has an invalid anti-replay nonce","status":400}')
put("json_problem", "subproblems", b'{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Some identifiers were rejected","status":400,"subproblems":[{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"bad","identifier":{"type":"dns","value":"x.example"}}],"algorithms":["ES256"]}')
put("json_renewal_info", "rfc9773", b'{"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"},"explanationURL":"https://acme.example.com/docs/ari"}')
put("json_account", "orders-page", b'{"orders":["https://ca/order/1","https://ca/order/2"]}')
put("eab_key", "pebble-kid-1", b"zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W")
put("eab_key", "padded", b"AQ==")
