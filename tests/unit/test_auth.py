"""Bearer tokens: issued for development, verified for every request."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.audit.signing import generate_private_key, private_key_pem
from shared.auth import Identity, TokenService, dev_secret, require_roles
from shared.errors import Forbidden, Unauthenticated
from shared.settings import Settings

SECRET = "s" * 40


def service(**overrides: object) -> TokenService:
    return TokenService(Settings.from_env({}, jwt_secret=SECRET, **overrides))


def test_issued_token_verifies_to_the_same_identity() -> None:
    tokens = service()
    identity = tokens.verify(tokens.issue(tenant="32.73", roles=["operator", "monitor"], sub="u1", name="Ani"))
    assert identity == Identity(sub="u1", name="Ani", tenant="32.73", roles=("operator", "monitor"))
    assert identity.actor() == {"sub": "u1", "tenant": "32.73", "roles": ["operator", "monitor"]}


def test_token_carries_the_documented_claims() -> None:
    claims = jwt.decode(service().issue(tenant="national", roles=["auditor"]), SECRET, algorithms=["HS256"])
    assert {"sub", "name", "tenant", "roles", "exp"} <= set(claims)


@pytest.mark.parametrize("tenant", ["jabar", "3273", "32.7", "", "99.99", "31.71"])
def test_unknown_tenant_shapes_are_refused_at_issue(tenant: str) -> None:
    with pytest.raises(ValueError, match="tenant"):
        service().issue(tenant=tenant, roles=["operator"])


def test_unknown_roles_are_refused_at_issue() -> None:
    with pytest.raises(ValueError, match="roles"):
        service().issue(tenant="32", roles=["superuser"])


def test_expired_token_is_unauthenticated() -> None:
    tokens = service()
    with pytest.raises(Unauthenticated) as caught:
        tokens.verify(tokens.issue(tenant="32", roles=["monitor"], ttl_seconds=-1))
    assert caught.value.code == "token_expired"


def test_token_signed_with_another_secret_is_unauthenticated() -> None:
    forged = jwt.encode({"sub": "x", "tenant": "national", "roles": ["admin"], "exp": int(time.time()) + 60},
                        "another-secret-" * 3, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        service().verify(forged)


def test_token_without_tenant_is_unauthenticated() -> None:
    token = jwt.encode({"sub": "x", "roles": ["operator"], "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        service().verify(token)


def test_algorithm_none_is_refused() -> None:
    claims = {"sub": "x", "tenant": "32", "roles": ["operator"], "exp": int(time.time()) + 60}
    token = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(Unauthenticated):
        service().verify(token)


# Production requires an audit signing key; any valid one will do here.
AUDIT_KEY = private_key_pem(generate_private_key())


def test_production_verifies_rs256_tokens_with_a_public_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    tokens = TokenService(Settings.from_env({}, jwt_algorithm="RS256", jwt_public_key=public, environment="production",
                                           audit_signing_key=AUDIT_KEY))
    claims = {"sub": "idp|7", "name": "Budi", "tenant": "32", "roles": ["consolidator"], "exp": int(time.time()) + 60}
    token = jwt.encode(claims, key, algorithm="RS256")
    assert tokens.verify(token).tenant == "32"
    with pytest.raises(RuntimeError):
        tokens.issue(tenant="32", roles=["operator"])  # only the identity provider issues


def test_development_secret_is_generated_once_and_kept(tmp_path) -> None:
    settings = Settings.from_env({}, data_dir=str(tmp_path))
    first = dev_secret(settings)
    assert len(first) >= 32
    assert dev_secret(settings) == first
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


def test_role_check_names_the_missing_role() -> None:
    auditor = Identity(sub="a", name="A", tenant="32", roles=("auditor",))
    with pytest.raises(Forbidden, match="operator"):
        require_roles("operator")(auditor)
    require_roles("operator", "auditor")(auditor)


def test_production_verifies_tokens_with_keys_from_a_jwks_url() -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key())) | {"kid": "k1", "use": "sig", "alg": "RS256"}
    body = json.dumps({"keys": [jwk]}).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's API
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
        tokens = TokenService(Settings.from_env({}, jwt_algorithm="RS256", jwt_jwks_url=url, environment="production",
                                           audit_signing_key=AUDIT_KEY))
        claims = {"sub": "idp|9", "tenant": "35.78", "roles": ["operator"], "exp": int(time.time()) + 60}
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
        assert tokens.verify(token).tenant == "35.78"
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with pytest.raises(Unauthenticated):
            tokens.verify(jwt.encode(claims, other, algorithm="RS256", headers={"kid": "k1"}))
    finally:
        server.shutdown()


@pytest.mark.parametrize("roles", [[], ["superuser"], ["root", "owner"]])
def test_a_signed_token_with_no_known_role_is_forbidden(roles: list[str]) -> None:
    token = jwt.encode({"sub": "x", "tenant": "32", "roles": roles, "exp": int(time.time()) + 60}, SECRET)
    with pytest.raises(Forbidden) as caught:
        service().verify(token)
    assert caught.value.code == "no_known_role"
    assert caught.value.status == 403


def test_unknown_roles_beside_a_known_one_are_dropped() -> None:
    token = jwt.encode({"sub": "x", "tenant": "32", "roles": ["superuser", "auditor"], "exp": int(time.time()) + 60},
                       SECRET)
    assert service().verify(token).roles == ("auditor",)


BAD_CLAIMS = "Isi token tidak lengkap atau tidak valid (sub, tenant, roles, exp)."


def _claims(**extra: object) -> dict[str, object]:
    return {"sub": "x", "tenant": "32", "roles": ["operator"], "exp": int(time.time()) + 86400, **extra}


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("not-a-jwt", "Token tidak dapat dibaca: bukan JWT yang utuh."),
        ("a.b.c", "Token tidak dapat dibaca: bukan JWT yang utuh."),
        (jwt.encode(_claims(), "another-secret-" * 3), "Tanda tangan token tidak sah."),
        (jwt.encode(_claims(), None, algorithm="none"), "Tanda tangan token tidak sah."),
        (jwt.encode(_claims(nbf=int(time.time()) + 3600), SECRET), "Token belum berlaku."),
        (jwt.encode(_claims(tenant="jabar"), SECRET), BAD_CLAIMS),
        (jwt.encode(_claims(roles="operator"), SECRET), BAD_CLAIMS),
        (jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, SECRET), BAD_CLAIMS),
    ],
    ids=["one-segment", "three-garbage-segments", "other-secret", "alg-none", "not-yet-valid", "bad-tenant",
         "roles-not-a-list", "no-exp"],
)
def test_each_kind_of_bad_token_has_one_indonesian_message_and_no_library_words(token: str, detail: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        service().verify(token)
    assert caught.value.detail == detail
    assert caught.value.code == "token_invalid"


def test_wrong_issuer_and_wrong_audience_are_told_apart() -> None:
    tokens = service(jwt_issuer="https://sso.example.go.id", jwt_audience="ksd")
    cases = {
        "Token diterbitkan oleh penerbit (iss) yang tidak dikenal.": [
            _claims(iss="https://evil.example", aud="ksd"), _claims(aud="ksd")],
        "Token ini bukan untuk layanan ini (aud).": [
            _claims(iss="https://sso.example.go.id", aud="other"), _claims(iss="https://sso.example.go.id")],
    }
    for detail, claims in cases.items():
        for claim in claims:
            with pytest.raises(Unauthenticated) as caught:
                tokens.verify(jwt.encode(claim, SECRET))
            assert caught.value.detail == detail, claim
