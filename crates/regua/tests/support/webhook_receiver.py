#!/usr/bin/env python3
"""A webhook receiver that checks Standard Webhooks signatures with its own code (Python's
hmac, not Régua's): for each POST it recomputes base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))
with every secret it was given and accepts the request (204) when one of the `v1,` signatures in
`webhook-signature` matches; otherwise 401. Each request is appended to LOG as one JSON line:
{"id", "type", "valid", "signatures"}.

    webhook_receiver.py PORT LOG whsec_… [whsec_…]
"""

import base64
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT, LOG, SECRETS = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
KEYS = [base64.b64decode(s.removeprefix("whsec_")) for s in SECRETS]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        msg_id = self.headers.get("webhook-id", "")
        ts = self.headers.get("webhook-timestamp", "")
        given = [s.split(",", 1)[1] for s in self.headers.get("webhook-signature", "").split() if s.startswith("v1,")]
        signed = f"{msg_id}.{ts}.".encode() + body
        expected = [base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()).decode() for k in KEYS]
        valid = any(hmac.compare_digest(g, e) for g in given for e in expected)
        event = json.loads(body) if body else {}
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps({"id": msg_id, "type": event.get("type"), "data": event.get("data"),
                                "valid": valid, "signatures": len(given)}) + "\n")
        self.send_response(204 if valid else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
