"""Identity through the gateway with real tokens from the auth service."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from .conftest import Platform, bearer

pytestmark = pytest.mark.system


def _register(platform: Platform) -> tuple[str, str]:
    email = f"person-{uuid.uuid4().hex[:10]}@example.com"
    password = "a sufficiently long passphrase " + uuid.uuid4().hex[:6]
    response = httpx.post(
        platform.gateway + "/api/auth/register",
        json={"email": email, "password": password, "display_name": "Person"},
    )
    assert response.status_code == 201, response.text
    return email, password


def test_register_login_profile_and_addresses(platform: Platform) -> None:
    email, password = _register(platform)
    headers = bearer(platform, email, password)
    me = httpx.get(platform.gateway + "/api/users/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["email"] == email
    address = {
        "name": "Person",
        "line1": "1 Market Street",
        "city": "Lisbon",
        "postal_code": "1100-001",
        "country": "PT",
    }
    created = httpx.post(platform.gateway + "/api/users/me/addresses", json=address,
                         headers=headers)  # fmt: skip
    assert created.status_code == 201, created.text
    listed = httpx.get(platform.gateway + "/api/users/me/addresses", headers=headers).json()
    assert [a["city"] for a in listed["items"]] == ["Lisbon"]


def test_one_user_cannot_read_another(platform: Platform) -> None:
    alice = bearer(platform, *_register(platform))
    bob = bearer(platform, *_register(platform))
    bob_id = httpx.get(platform.gateway + "/api/users/me", headers=bob).json()["id"]
    assert httpx.get(f"{platform.gateway}/api/users/{bob_id}", headers=alice).status_code == 404


def test_role_cannot_be_mass_assigned(platform: Platform) -> None:
    headers = bearer(platform, *_register(platform))
    response = httpx.patch(platform.gateway + "/api/users/me", json={"role": "admin"},
                           headers=headers)  # fmt: skip
    assert response.status_code == 422
    assert httpx.get(platform.gateway + "/api/users/me", headers=headers).json()["role"] == (
        "customer"
    )


def test_logout_stops_the_access_token_within_a_second(platform: Platform) -> None:
    headers = bearer(platform, *_register(platform))
    assert httpx.get(platform.gateway + "/api/users/me", headers=headers).status_code == 200
    assert httpx.post(platform.gateway + "/api/auth/logout", headers=headers).status_code == 204
    time.sleep(1.0)
    assert httpx.get(platform.gateway + "/api/users/me", headers=headers).status_code == 401


def test_jwks_is_published_through_the_gateway(platform: Platform) -> None:
    keys = httpx.get(platform.gateway + "/api/auth/.well-known/jwks.json").json()["keys"]
    # One line per algorithm (ADR 0018): Ed25519 for access tokens, RSA for ID tokens.
    assert {(key["kty"], key["alg"]) for key in keys} == {("OKP", "EdDSA"), ("RSA", "RS256")}


def test_rfc_8414_metadata_is_at_the_path_inserted_url_too(platform: Platform) -> None:
    from urllib.parse import urlsplit

    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata, get_well_known_url

    issuer = platform.gateway + "/api/auth"
    # RFC 8414 §3.1: /.well-known/oauth-authorization-server/api/auth, at the root.
    url = get_well_known_url(issuer, external=True)
    assert urlsplit(url).path == "/.well-known/oauth-authorization-server/api/auth"
    inserted = httpx.get(url)
    assert inserted.status_code == 200, inserted.text
    document = inserted.json()
    AuthorizationServerMetadata(document).validate()
    # §3.3: the issuer in the document is the one the URL was built from.
    assert document["issuer"] == issuer
    assert document == httpx.get(issuer + "/.well-known/oauth-authorization-server").json()
    assert httpx.get(issuer + "/.well-known/openid-configuration").json()["issuer"] == issuer


def test_discovery_names_the_gateway_as_issuer_and_a_code_flow_works_through_it(
    platform: Platform,
) -> None:
    import base64
    import hashlib
    import html
    import re
    import secrets
    from urllib.parse import parse_qs, urlsplit

    issuer = platform.gateway + "/api/auth"
    document = httpx.get(issuer + "/.well-known/openid-configuration").json()
    assert document["issuer"] == issuer
    assert document == httpx.get(issuer + "/.well-known/oauth-authorization-server").json()
    assert httpx.get(document["jwks_uri"]).json()["keys"]

    email, password = _register(platform)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    redirect_uri = platform.gateway + "/auth/callback"
    with httpx.Client() as browser:
        page = browser.get(
            document["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": "storefront",
                "redirect_uri": redirect_uri,
                "scope": "openid email",
                "state": "s-1",
                "code_challenge": challenge.decode(),
                "code_challenge_method": "S256",
            },
        )
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        fields = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', page.text))
        back = browser.post(
            document["authorization_endpoint"],
            data={
                **{k: html.unescape(v) for k, v in fields.items()},
                "action": "login",
                "email": email,
                "password": password,
            },
        )
        assert back.status_code == 303, back.text
        query = parse_qs(urlsplit(back.headers["location"]).query)
        assert query["state"] == ["s-1"] and query["iss"] == [issuer]
        tokens = browser.post(
            document["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": redirect_uri,
                "client_id": "storefront",
                "code_verifier": verifier,
            },
        )
    assert tokens.status_code == 200, tokens.text
    assert "refresh_token" not in tokens.json()
    # The ID token verifies against the published JWKS with RS256, as any OIDC client does.
    import jwt

    id_token = tokens.json()["id_token"]
    signing_key = jwt.PyJWKClient(document["jwks_uri"]).get_signing_key_from_jwt(id_token)
    claims = jwt.decode(id_token, signing_key.key, algorithms=["RS256"], audience="storefront")
    assert claims["iss"] == issuer and claims["email"] == email
    assert "bazaar_refresh=" in tokens.headers["set-cookie"]
    headers = {"Authorization": "Bearer " + tokens.json()["access_token"]}
    assert httpx.get(document["userinfo_endpoint"], headers=headers).json()["email"] == email
    assert httpx.get(platform.gateway + "/api/users/me", headers=headers).status_code == 200
