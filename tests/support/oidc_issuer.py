"""A real OIDC issuer on 127.0.0.1, for the CI identity exchange (services/oidc.py).

It holds generated RSA and EC signing keys, serves its discovery document
(``/.well-known/openid-configuration``) and its JWKS (``/jwks``), and signs ID tokens with
PyJWT. It also answers as GitHub Actions' token endpoint does (``/gha-token?audience=``, with
the request bearer token), so the ``id`` package detects it as the ambient CI credential.
Tests may rotate keys (``add_key``) and read how often the JWKS was fetched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

GHA_REQUEST_TOKEN = "gha-request-token"  # what the CI hands the job to ask for an ID token
_JTI = itertools.count(1)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        public = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OidcIssuer:
    """An issuer whose tokens look like GitHub Actions' (claims ``repository``, ``ref``, ...)."""

    def __init__(self, audience: str = "signed-mirror") -> None:
        self.audience = audience
        self.keys = [rsa_key("rsa-1"), ec_key("ec-1")]
        self.hits: Counter[str] = Counter()
        # What the GitHub-style token endpoint puts in the tokens it hands out.
        self.job_claims: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def token_request_url(self) -> str:
        """ACTIONS_ID_TOKEN_REQUEST_URL for a job of this issuer."""
        return f"{self.url}/gha-token"

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [key.jwk() for key in self.keys]}

    def add_key(self, key: SigningKey) -> None:
        """Rotate: publish one more key (the mirror has not seen it yet)."""
        with self._lock:
            self.keys.append(key)

    # -- tokens ---------------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """A GitHub Actions-like claim set, valid now for 5 minutes; ``None`` removes one."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": self.audience,
            "sub": "repo:acme/app:ref:refs/heads/main",
            "repository": "acme/app",
            "workflow_ref": "acme/app/.github/workflows/ci.yml@refs/heads/main",
            "ref": "refs/heads/main",
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "run_id": "4242",
            "jti": f"jti-{next(_JTI)}-{time.time_ns()}",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self,
        claims: Mapping[str, Any],
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        key = key or self.keys[0]
        return jwt.encode(
            dict(claims),
            key.private,
            algorithm=key.alg,
            headers={"kid": key.kid, **(headers or {})},
        )

    def token(self, key: SigningKey | None = None, **overrides: Any) -> str:
        return self.sign(self.claims(**overrides), key)

    def unsigned(self, **overrides: Any) -> str:
        """``alg: none``: a token with no signature at all."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
        payload = _b64(json.dumps(self.claims(**overrides)).encode())
        return f"{header}.{payload}."

    def hs256_with_public_key(self, key: SigningKey | None = None, **overrides: Any) -> str:
        """HS256 "signed" with the issuer's public key as the HMAC secret: the classic
        algorithm confusion, which a verifier that lets the token choose falls for."""
        key = key or self.keys[0]
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
        payload = _b64(json.dumps(self.claims(**overrides)).encode())
        signing_input = f"{header}.{payload}".encode()
        mac = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(mac)}"

    # -- serving --------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        request = Request(environ)
        self.hits[request.path] += 1
        response = self._answer(request)
        return response(environ, start_response)  # type: ignore[no-any-return]

    def _answer(self, request: Request) -> Response:
        if request.path == "/.well-known/openid-configuration":
            return _json({"issuer": self.url, "jwks_uri": f"{self.url}/jwks"})
        if request.path == "/jwks":
            return _json(self.jwks())
        if request.path == "/gha-token":
            if request.headers.get("Authorization") != f"bearer {GHA_REQUEST_TOKEN}":
                return Response("unauthorized", status=401)
            audience = request.args.get("audience", self.audience)
            return _json({"value": self.token(aud=audience, **self.job_claims)})
        return Response("not found", status=404)


def _json(document: Any) -> Response:
    return Response(json.dumps(document), mimetype="application/json")
