"""Sign-in as a new user meets it: sample users in development, the session cookie's flags,
CSRF on every form, sign-out, and every page naming who is signed in."""

from __future__ import annotations

from tests.web.conftest import WebClient


def test_pages_ask_for_sign_in_and_come_back_after_it(web) -> None:  # noqa: ANN001
    client: WebClient = web()
    response = client.get("/?tab=tugas")
    assert response.status_code == 302
    assert response.headers["location"] == "/masuk?lanjut=%2F%3Ftab%3Dtugas"
    page = client.get("/masuk")
    assert page.status_code == 200 and 'lang="id"' in page.text
    for name in ("Operator Kota Bandung", "Operator Kabupaten Bandung", "Biro Pemerintahan Jawa Barat"):
        assert name in page.text
    signed = client.post("/masuk", {"tenant": "32.73", "role": "operator", "lanjut": "/?tab=tugas"})
    assert signed.status_code == 303 and signed.headers["location"] == "/?tab=tugas"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("SameSite=Lax", "SameSite=lax")
    home = client.get("/")
    assert home.status_code == 200
    assert "Kota Bandung" in home.text and "Operator" in home.text


def test_a_form_without_its_csrf_token_changes_nothing(web) -> None:  # noqa: ANN001
    client: WebClient = web()
    client.get("/masuk")
    response = client.http.post("/masuk", data={"tenant": "32.73", "role": "operator"})
    assert response.status_code == 403
    assert "Formulir" in response.text
    assert client.get("/").status_code == 302  # still not signed in


def test_open_redirects_and_unknown_roles_are_refused(web) -> None:  # noqa: ANN001
    client: WebClient = web()
    response = client.post("/masuk", {"tenant": "32.73", "role": "operator", "lanjut": "//evil.example/x"})
    assert response.headers["location"] == "/"
    bad = client.post("/masuk", {"tenant": "32.73", "role": "approver"})
    assert bad.status_code == 422 and "approver" in bad.text


def test_sign_out_ends_the_session(web) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    assert client.get("/").status_code == 200
    out = client.post("/keluar")
    assert out.status_code == 303 and out.headers["location"] == "/masuk"
    assert client.get("/").status_code == 302


def test_a_refused_csrf_token_is_logged_with_its_status(tmp_path) -> None:  # noqa: ANN001
    """QA: a POST refused for its CSRF token (403) was logged as status 500, a false alarm."""
    from litestar.testing import TestClient
    from structlog.testing import capture_logs

    from services.web.app import create_app
    from shared.settings import Settings

    with TestClient(create_app(Settings.from_env({}, data_dir=str(tmp_path)))) as client, capture_logs() as logs:
        assert client.post("/masuk", data={"tenant": "32.73", "role": "operator"}).status_code == 403
    (line,) = [entry for entry in logs if entry.get("event") == "request" and entry.get("path") == "/masuk"]
    assert line["status"] == 403
