"""Verifies the DKIM signature of a message with dkimpy, an implementation independent of
Régua's: `python3 dkim_verify.py MESSAGE.eml PUBLIC_KEY_DER_BASE64`. The public key stands in
for the selector's DNS TXT record. Exits 0 when the signature verifies, 1 otherwise (with
dkimpy's reason on stderr)."""

import logging
import sys

import dkim

message = open(sys.argv[1], "rb").read()
record = b"v=DKIM1; k=rsa; p=" + sys.argv[2].strip().encode()


def dns(name, timeout=5):
    return record


logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
ok = dkim.verify(message, logger=logging.getLogger("dkim"), dnsfunc=dns)
print("pass" if ok else "fail")
sys.exit(0 if ok else 1)
