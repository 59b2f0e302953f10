"""Sign-in with the ministry's identity provider: OpenID Connect, authorization code flow with
PKCE (S256), through Authlib. The ID token's claims give the user's tenant and roles; the access
token (a JWT the services verify against the provider's JWKS) is what the web app sends to them."""

from __future__ import annotations

import time
import warnings
from typing import Any

import httpx
from authlib.common.security import generate_token
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from shared.settings import Settings

with warnings.catch_warnings():
    # Authlib announces its move from httpx to httpx2, the package's successor; httpx is what
    # it runs on today. Not a message for the people who start the platform.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client


class OidcError(Exception):
    """Sign-in failed; the message is for the user, in Bahasa Indonesia."""


class Oidc:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.issuer = (settings.oidc_issuer or "").rstrip("/")
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0

    def redirect_uri(self, base_url: str) -> str:
        base = (self.settings.web_public_url or base_url).rstrip("/")
        return f"{base}/masuk/kembali"

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.settings.oidc_client_id,
            client_secret=self.settings.oidc_client_secret,
            scope=self.settings.oidc_scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post" if self.settings.oidc_client_secret else "none",
            timeout=10,
        )

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > 3600:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(f"{self.issuer}/.well-known/openid-configuration")
                response.raise_for_status()
                self._metadata = response.json()
                self._metadata_at = time.monotonic()
        return self._metadata

    async def begin(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """The provider's authorization URL, and what the session must keep until the callback."""
        meta = await self.metadata()
        verifier = generate_token(64)
        nonce = generate_token(24)
        async with self._client(redirect_uri) as client:
            url, state = client.create_authorization_url(
                meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
            )
        return url, {"state": state, "verifier": verifier, "nonce": nonce}

    async def finish(self, redirect_uri: str, code: str, pending: dict[str, str]) -> dict[str, Any]:
        """Exchange the code (with the PKCE verifier), verify the ID token; its claims plus the
        token to present to the services."""
        meta = await self.metadata()
        async with self._client(redirect_uri) as client:
            try:
                token = await client.fetch_token(
                    meta["token_endpoint"], code=code, code_verifier=pending["verifier"],
                    grant_type="authorization_code",
                )
            except Exception as exc:  # the provider refused; the user reads why in words
                raise OidcError("Penyedia identitas menolak kode masuk; silakan masuk kembali.") from exc
        async with httpx.AsyncClient(timeout=10) as http:
            jwks = (await http.get(meta["jwks_uri"])).json()
        id_token = token.get("id_token")
        if not id_token:
            raise OidcError("Penyedia identitas tidak mengirim ID token.")
        try:
            claims = jwt.decode(id_token, KeySet.import_key_set(jwks),
                                algorithms=["RS256", "ES256", "EdDSA", "PS256"]).claims
            jwt.JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "value": meta.get("issuer", self.issuer)},
                aud={"essential": True, "value": self.settings.oidc_client_id},  # type: ignore[typeddict-item]  # set with OIDC
                nonce={"essential": True, "value": pending["nonce"]},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(claims)
        except (JoseError, ValueError) as exc:
            raise OidcError("ID token dari penyedia identitas tidak sah.") from exc
        tenant = claims.get(self.settings.oidc_tenant_claim)
        roles = claims.get(self.settings.oidc_roles_claim) or []
        if isinstance(roles, str):
            roles = roles.split()
        if not tenant or not roles:
            raise OidcError("Akun Anda belum diberi daerah (tenant) atau peran untuk Sinergi KSD; hubungi admin.")
        return {
            "sub": str(claims["sub"]),
            "name": str(claims.get("name") or claims.get("preferred_username") or claims["sub"]),
            "tenant": str(tenant),
            "roles": tuple(str(r) for r in roles),
            "token": token.get("access_token") or id_token,
            "expires": int(token.get("expires_at") or claims["exp"]),
        }


def new_state() -> str:
    return generate_token(24)
