#!/usr/bin/env python3
"""A webhook receiver for .ci/webhook-smoke.sh (standard library only), verifying each request as the Standard Webhooks
specification says, independently of the gateway's own signing code:
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md ("Verifying webhook authenticity").

  webhook_receiver.py PORT SECRET LOG MODE_FILE
      Listens on 127.0.0.1:PORT. Each POST is verified (webhook-id, webhook-timestamp within five minutes, and any v1
      signature in webhook-signature equal to the base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under the secret's
      bytes), answered with the status written in MODE_FILE (200 when it is missing), and recorded as one JSON line in
      LOG: {id, timestamp, type, generation_id, verified, status}.
"""
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, SECRET, LOG, MODE_FILE = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
KEY = base64.b64decode(SECRET[len("whsec_"):])
LOCK = threading.Lock()


def verified(msg_id, timestamp, body, header):
    try:
        if abs(time.time() - int(timestamp)) > 300:
            return False
    except ValueError:
        return False
    expected = base64.b64encode(hmac.new(KEY, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()
    return any(part.startswith("v1,") and hmac.compare_digest(part[3:], expected) for part in header.split(" "))


def mode():
    try:
        with open(MODE_FILE) as f:
            return int(f.read().strip() or "200")
    except (OSError, ValueError):
        return 200


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        msg_id = self.headers.get("webhook-id", "")
        timestamp = self.headers.get("webhook-timestamp", "")
        ok = verified(msg_id, timestamp, body, self.headers.get("webhook-signature", ""))
        try:
            payload = json.loads(body)
            kind, generation = payload.get("type"), payload.get("data", {}).get("id")
        except ValueError:
            kind, generation = None, None
        status = mode()
        with LOCK, open(LOG, "a") as log:
            log.write(json.dumps({"id": msg_id, "timestamp": timestamp, "type": kind, "generation_id": generation,
                                  "verified": ok, "status": status}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
