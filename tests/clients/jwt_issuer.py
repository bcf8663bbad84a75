"""A small token issuer for the authentication tests: RSA keys, a JWKS over HTTP, and
tokens minted on request (PyJWT with `cryptography`, from the Python SDK's environment).

    python jwt_issuer.py            # prints "listening on http://127.0.0.1:PORT"

- GET /jwks: the current key set.
- GET /token?sub=&aud=&iss=&scope=&roles=&exp=SECONDS&kid=&forge=1: a signed RS256 token
  (`exp` relative to now, negative for an expired token; `forge`: signed by a key that is
  not in the set, under the same kid).
- POST /rotate: a new key becomes the signing key and the old one leaves the set.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

LOCK = threading.Lock()
KEYS = {}  # kid -> private key
CURRENT = {"kid": None}


def new_key(kid):
    KEYS[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    CURRENT["kid"] = kid


def jwks():
    keys = []
    for kid, key in KEYS.items():
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
        keys.append(jwk)
    return {"keys": keys}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/jwks":
            with LOCK:
                self.answer(200, json.dumps(jwks()))
            return
        if url.path == "/token":
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            now = int(time.time())
            claims = {
                "sub": q.get("sub", "alice"),
                "iss": q.get("iss", "https://issuer.test"),
                "aud": q.get("aud", ""),
                "iat": now,
                "exp": now + int(q.get("exp", "300")),
            }
            if "scope" in q:
                claims["scope"] = q["scope"]
            if "roles" in q:
                claims["roles"] = q["roles"].split(",")
            with LOCK:
                kid = q.get("kid", CURRENT["kid"])
                key = KEYS[CURRENT["kid"]]
                if q.get("forge"):
                    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
            self.answer(200, token, "text/plain")
            return
        self.answer(404, "{}")

    def do_POST(self):
        if urlparse(self.path).path == "/rotate":
            with LOCK:
                old = CURRENT["kid"]
                new_key(f"k{len(KEYS) + 1}-{int(time.time())}")
                KEYS.pop(old, None)
                self.answer(200, json.dumps({"kid": CURRENT["kid"]}))
            return
        self.answer(404, "{}")


def main():
    new_key("k1")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
