"""Production sign-in: OpenID Connect, authorization code flow with PKCE, against a small
identity provider run by the test (discovery, authorize, token, JWKS) over real HTTP. The web
app must send an S256 code challenge, prove it with the verifier, check the ID token's
signature, issuer, audience and nonce, and take the user's tenant and roles from its claims."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from litestar import Litestar, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from litestar.testing import TestClient

from services.web.app import create_app
from shared.settings import Settings
from tests.conftest import free_port, wait_for

CLIENT_ID = "sinergi-ksd-web"


class Provider:
    """What the identity provider saw and what it will put in the ID token."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.codes: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, Any] = {"tenant": "32.73", "roles": ["operator"], "name": "Siti Rahmawati"}
        self.wrong_nonce = False
        self.token_requests: list[dict[str, str]] = []

    def app(self) -> Litestar:
        provider = self

        @get("/.well-known/openid-configuration", sync_to_thread=False)
        def discovery() -> dict[str, Any]:
            return {"issuer": provider.issuer, "authorization_endpoint": f"{provider.issuer}/authorize",
                    "token_endpoint": f"{provider.issuer}/token", "jwks_uri": f"{provider.issuer}/jwks",
                    "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"]}

        @get("/authorize", sync_to_thread=False)
        def authorize(request: Request[Any, Any, Any]) -> Redirect:
            q = request.query_params
            code = secrets.token_urlsafe(16)
            provider.codes[code] = dict(q)
            return Redirect(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}")

        @post("/token", sync_to_thread=False, status_code=200)
        def token(data: dict[str, str] = Body(media_type=RequestEncodingType.URL_ENCODED)) -> dict[str, Any]:
            provider.token_requests.append(data)
            asked = provider.codes.pop(data["code"])
            challenge = base64.urlsafe_b64encode(hashlib.sha256(data["code_verifier"].encode()).digest()).rstrip(b"=")
            assert asked["code_challenge_method"] == "S256" and asked["code_challenge"] == challenge.decode()
            now = int(time.time())
            claims = {"iss": provider.issuer, "aud": CLIENT_ID, "sub": "siti@bandung", "iat": now, "exp": now + 600,
                      "nonce": "forged" if provider.wrong_nonce else asked["nonce"], **provider.claims}
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, provider.key)
            access = jwt.encode({"alg": "RS256", "kid": "k1"}, {**claims, "aud": "ksd"}, provider.key)
            return {"access_token": access, "id_token": id_token, "token_type": "Bearer", "expires_in": 600}

        @get("/jwks", sync_to_thread=False)
        def jwks() -> dict[str, Any]:
            return KeySet([provider.key]).as_dict(private=False)

        return Litestar([discovery, authorize, token, jwks])


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    port = free_port()
    provider = Provider(f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "identity provider", timeout=15)
    yield provider
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def client(provider: Provider, tmp_path) -> Iterator[TestClient]:  # noqa: ANN001
    settings = Settings.from_env({}, data_dir=str(tmp_path), oidc_issuer=provider.issuer, oidc_client_id=CLIENT_ID,
                                 web_public_url="http://testserver.local")
    with TestClient(create_app(settings), base_url="http://testserver.local") as client:
        yield client


def _sign_in(client: TestClient, provider: Provider) -> httpx.Response:
    begin = client.get("/masuk/oidc?lanjut=/kerja-sama", follow_redirects=False)
    assert begin.status_code in (302, 307), begin.text
    authorize = begin.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{provider.issuer}/authorize")
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == ["http://testserver.local/masuk/kembali"] and "nonce" in query
    back = httpx.get(authorize, follow_redirects=False).headers["location"]
    return client.get(back.replace("http://testserver.local", ""), follow_redirects=False)


def test_the_identity_providers_user_is_signed_in_with_the_tenant_and_roles_of_its_claims(
    client: TestClient, provider: Provider
) -> None:
    provider.claims = {"tenant": "32.73", "roles": ["operator"], "name": "Siti Rahmawati"}
    done = _sign_in(client, provider)
    assert done.status_code in (302, 303) and done.headers["location"] == "/kerja-sama"
    verifier = provider.token_requests[-1]["code_verifier"]
    assert 43 <= len(verifier) <= 128
    page = client.get("/masuk")
    assert "Siti Rahmawati" in page.text and "Kota Bandung" in page.text
    assert "Pengguna contoh" not in page.text  # no sample users when an identity provider is set
    # With an identity provider set, the development sign-in is closed: a POST is sent to the
    # provider's flow and nobody becomes the national auditor.
    client.get("/masuk")
    forged = client.post("/masuk", data={"tenant": "national", "role": "auditor",
                                         "_csrf_token": client.cookies.get("ksd_csrf")}, follow_redirects=False)
    assert forged.headers["location"] == "/masuk/oidc"
    assert "Siti Rahmawati" in client.get("/masuk").text


def test_a_forged_nonce_or_a_replayed_state_signs_nobody_in(client: TestClient, provider: Provider) -> None:
    provider.wrong_nonce = True
    try:
        refused = _sign_in(client, provider)
    finally:
        provider.wrong_nonce = False
    assert refused.status_code == 400 and "tidak sah" in refused.text
    assert client.get("/", follow_redirects=False).status_code == 302
    stale = client.get("/masuk/kembali?code=x&state=not-ours", follow_redirects=False)
    assert stale.status_code == 400 and "kedaluwarsa" in stale.text


def test_a_user_without_a_tenant_claim_is_told_to_ask_an_admin(client: TestClient, provider: Provider) -> None:
    provider.claims = {"roles": ["operator"], "name": "Tanpa Daerah"}
    try:
        refused = _sign_in(client, provider)
    finally:
        provider.claims = {"tenant": "32.73", "roles": ["operator"], "name": "Siti Rahmawati"}
    assert refused.status_code == 400 and "hubungi admin" in refused.text
