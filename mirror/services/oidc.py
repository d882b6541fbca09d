"""The CI identity exchange (docs/review.md, "CI identity tokens"): a pipeline sends the OIDC
ID token its CI gives every job and gets a short-lived mirror token, so it stores no secret.

An ID token is accepted only when every check passes: an asymmetric algorithm, an issuer
listed in ``[[auth.oidc.trust]]``, a signature by a key of that issuer's JWKS (read from
``jwks_file`` or found through OIDC discovery, cached, and fetched again for an unknown key id
at most once per ``JWKS_COOLDOWN``), the configured audience, ``exp``, ``nbf`` and ``iat``
against the mirror's clock with ``LEEWAY``, the entry's claim globs, and a ``jti`` not
exchanged before (remembered in the database until the token expires, so across nodes).
A refusal says which check failed in the log only: the caller learns nothing but "refused".
"""

import fnmatch
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import urllib3

from mirror.bounded import read_at_most
from mirror.config import OidcTrust
from mirror.db import access
from mirror.db.engine import writing
from mirror.errors import ConfigError, MirrorError
from mirror.services.backends import Backends
from mirror.services.tokens import Grant, NewToken, Scope, TokenError, issue

log = logging.getLogger(__name__)

# Signatures a public key verifies. A symmetric one (HS*) would be checked with a key anyone
# can read from the JWKS, and "none" is no signature at all.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# Clocks of the CI and the mirror may differ this much.
LEEWAY = timedelta(seconds=60)
JWKS_COOLDOWN = 60.0  # seconds between fetches of one issuer's keys
MAX_ID_TOKEN_CHARS = 16 * 1024
MAX_KEYS_BYTES = 1 << 20
MAX_JTI_CHARS = 200
MAX_IDENTITY_CHARS = 200
FETCH_TIMEOUT = 10.0
# Scopes a CI identity may be exchanged for: tokens for machines, never a person's.
MINTABLE_SCOPES = frozenset({"read", "upload"})
# Where a minted token's identity comes from: the first claim present, GitHub Actions' name
# first, then GitLab CI's.
IDENTITY_CLAIMS: Mapping[str, tuple[str, ...]] = {
    "repository": ("repository", "project_path"),
    "workflow": ("workflow_ref", "workflow", "ci_config_ref_uri"),
    "ref": ("ref",),
    "sha": ("sha",),
    "run_id": ("run_id", "pipeline_id"),
}


class RefusedError(MirrorError):
    """An ID token failed a check; ``check`` names it for the log, never for the caller."""

    def __init__(self, check: str, detail: str = "") -> None:
        super().__init__(f"{check}: {detail}" if detail else check)
        self.check = check


@dataclass
class _KeySet:
    keys: dict[str, dict[str, Any]]
    fetched_at: float


@dataclass
class IssuerKeys:
    """Each trusted issuer's public keys by key id, cached for the life of the process."""

    _cached: dict[str, _KeySet] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, trust: OidcTrust, kid: str) -> dict[str, Any]:
        with self._lock:
            cached = self._cached.get(trust.issuer)
            if cached is not None and kid in cached.keys:
                return cached.keys[kid]
            if cached is not None and time.monotonic() - cached.fetched_at < JWKS_COOLDOWN:
                raise RefusedError("unknown key id", f"{kid!r}; keys fetched moments ago")
            # Stamped before the fetch: a failing issuer is not asked again at once either.
            fetched = _KeySet(cached.keys if cached else {}, time.monotonic())
            self._cached[trust.issuer] = fetched
            fetched.keys = _fetch_keys(trust)
            if kid not in fetched.keys:
                raise RefusedError("unknown key id", repr(kid))
            return fetched.keys[kid]


def _fetch_keys(trust: OidcTrust) -> dict[str, dict[str, Any]]:
    if trust.jwks_file:
        try:
            data = Path(trust.jwks_file).read_bytes()[: MAX_KEYS_BYTES + 1]
        except OSError as exc:
            raise RefusedError("keys unavailable", f"{trust.jwks_file}: {exc.strerror}") from exc
    else:
        discovery = _fetch_json(trust.issuer.rstrip("/") + "/.well-known/openid-configuration")
        if discovery.get("issuer") != trust.issuer:
            raise RefusedError("keys unavailable", "discovery names another issuer")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not _acceptable_url(jwks_uri, trust.issuer):
            raise RefusedError("keys unavailable", "discovery gives no usable jwks_uri")
        data = json.dumps(_fetch_json(jwks_uri)).encode()
    return _parse_keys(data)


def _acceptable_url(url: str, issuer: str) -> bool:
    """https, or the plain http the operator chose for the issuer itself (a local test issuer)."""
    scheme = urlsplit(url).scheme
    return scheme == "https" or (scheme == "http" and urlsplit(issuer).scheme == "http")


def _fetch_json(url: str) -> dict[str, Any]:
    try:
        response = urllib3.request(
            "GET",
            url,
            headers={"Accept": "application/json"},
            timeout=FETCH_TIMEOUT,
            retries=1,
            redirect=False,
            preload_content=False,
        )
        body = read_at_most(response, MAX_KEYS_BYTES)
        response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise RefusedError("keys unavailable", f"{url}: {exc}") from exc
    if response.status != 200 or body is None:
        raise RefusedError("keys unavailable", f"{url} answered {response.status}")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise RefusedError("keys unavailable", f"{url}: not JSON") from exc
    if not isinstance(document, dict):
        raise RefusedError("keys unavailable", f"{url}: not a JSON object")
    return document


def _parse_keys(data: bytes) -> dict[str, dict[str, Any]]:
    if len(data) > MAX_KEYS_BYTES:
        raise RefusedError("keys unavailable", "the JWKS is too large")
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise RefusedError("keys unavailable", "the JWKS is not JSON") from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise RefusedError("keys unavailable", "the JWKS has no keys list")
    return {
        entry["kid"]: entry
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("kid"), str)
        and entry.get("kty") in ("RSA", "EC", "OKP")
    }


@dataclass(frozen=True)
class Exchange:
    """The trusted issuers and what their tokens are exchanged for, checked when the app
    starts: a scope the token service does not know, or not mintable, stops it there."""

    backends: Backends
    scopes: Mapping[int, Scope]
    keys: IssuerKeys = field(default_factory=IssuerKeys)

    @classmethod
    def from_backends(cls, backends: Backends) -> "Exchange":
        trust = backends.config.auth.oidc.trust
        return cls(backends, {index: _mintable(index, entry) for index, entry in enumerate(trust)})

    def mint(self, id_token: str) -> NewToken:
        """A new token for ``id_token``. Raises ``RefusedError`` naming the failed check."""
        header, unverified = _unverified(id_token)
        candidates = self._trusted(unverified.get("iss"))
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise RefusedError("unknown key id", "the token names none")
        claims = self._verified(id_token, header["alg"], candidates[0][1], kid)
        now = self.backends.clock.now()
        _check_times(claims, now)
        index, trust = _matching(candidates, claims)
        return self._issue(claims, trust, self.scopes[index], now)

    def _trusted(self, issuer: Any) -> list[tuple[int, OidcTrust]]:
        entries = self.backends.config.auth.oidc.trust
        found = [(i, entry) for i, entry in enumerate(entries) if entry.issuer == issuer]
        if not found:
            raise RefusedError("untrusted issuer", repr(issuer)[:200])
        return found

    def _verified(self, id_token: str, alg: str, trust: OidcTrust, kid: str) -> dict[str, Any]:
        jwk = self.keys.key(trust, kid)
        if jwk.get("alg", alg) != alg:
            raise RefusedError("algorithm", f"key {kid!r} is for {jwk.get('alg')}, not {alg}")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=[alg],
                audience=self.backends.config.auth.oidc.audience,
                issuer=trust.issuer,
                # Times are checked against the mirror's clock (_check_times), not the host's.
                options={
                    "require": ["iss", "aud", "sub", "exp", "iat", "jti"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError as exc:
            raise RefusedError("audience", str(exc)) from exc
        except jwt.InvalidSignatureError as exc:
            raise RefusedError("signature", str(exc)) from exc
        except jwt.MissingRequiredClaimError as exc:
            raise RefusedError("missing claim", str(exc)) from exc
        except jwt.PyJWTError as exc:
            raise RefusedError("malformed token", str(exc)) from exc
        return claims

    def _issue(
        self, claims: Mapping[str, Any], trust: OidcTrust, scope: Scope, now: datetime
    ) -> NewToken:
        jti = claims["jti"]
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
            raise RefusedError("malformed token", "jti is not a short string")
        identity = identity_of(claims)
        lifetime = min(trust.ttl, self.backends.config.auth.max_ttl)
        name = "oidc:" + (identity.get("repository") or identity.get("subject") or "ci")
        grant = Grant(
            scope,
            lifetime,
            name[:100],
            f"oidc:{trust.issuer}"[:200],
            "CI identity token exchanged",
            identity,
            projects=trust.projects,
        )
        expires = _moment(claims["exp"]) + LEEWAY
        with writing(self.backends.engine) as conn:
            access.forget_expired_exchanges(conn, now)
            if not access.claim_exchange(conn, trust.issuer, jti, expires):
                raise RefusedError("replayed jti", repr(jti))
            return issue(conn, grant, now=now)


def _mintable(index: int, trust: OidcTrust) -> Scope:
    try:
        scope = Scope.parse(trust.scope)
    except TokenError as exc:
        raise ConfigError(f"auth.oidc.trust[{index}].scope: {exc}") from exc
    if scope.label not in MINTABLE_SCOPES:
        raise ConfigError(f"auth.oidc.trust[{index}].scope: a CI identity gets no {scope.label}")
    return scope


def _unverified(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims as sent, to choose the issuer's keys; nothing here is trusted."""
    if len(id_token) > MAX_ID_TOKEN_CHARS:
        raise RefusedError("malformed token", "too long")
    try:
        header = jwt.get_unverified_header(id_token)
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise RefusedError("malformed token", str(exc)) from exc
    if header.get("alg") not in ASYMMETRIC_ALGORITHMS:
        raise RefusedError("algorithm", repr(header.get("alg"))[:50])
    return header, claims


def _moment(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RefusedError("malformed token", "a time claim is not a number")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise RefusedError("malformed token", "a time claim is out of range") from exc


def _check_times(claims: Mapping[str, Any], now: datetime) -> None:
    if _moment(claims["exp"]) + LEEWAY <= now:
        raise RefusedError("expired", f"exp {claims['exp']}")
    if "nbf" in claims and _moment(claims["nbf"]) - LEEWAY > now:
        raise RefusedError("not yet valid", f"nbf {claims['nbf']}")
    if _moment(claims["iat"]) - LEEWAY > now:
        raise RefusedError("issued in the future", f"iat {claims['iat']}")


def _matching(
    candidates: list[tuple[int, OidcTrust]], claims: Mapping[str, Any]
) -> tuple[int, OidcTrust]:
    """The first entry for the issuer whose every claim glob matches."""
    for index, trust in candidates:
        if all(_claim_matches(claims.get(name), glob) for name, glob in trust.claims.items()):
            return index, trust
    subject = str(claims.get("sub"))[:200]
    raise RefusedError("claims", f"no trust entry for {claims.get('iss')} matches {subject!r}")


def _claim_matches(value: Any, glob: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    return fnmatch.fnmatchcase(str(value), glob)


def identity_of(claims: Mapping[str, Any]) -> dict[str, str]:
    """Who the token was minted for: issuer, subject and the CI's names for the job."""
    identity = {"issuer": str(claims["iss"]), "subject": str(claims["sub"])}
    for name, sources in IDENTITY_CLAIMS.items():
        value = next((claims[s] for s in sources if isinstance(claims.get(s), str | int)), None)
        if value is not None and not isinstance(value, bool):
            identity[name] = str(value)
    return {
        name: value[:MAX_IDENTITY_CHARS] for name, value in identity.items() if value.isprintable()
    }
