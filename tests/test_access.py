"""Accounts and access through the real ASGI app: nothing without credentials, sign-in cookies with
CSRF tokens, login rate limiting, roles per program enforced for pages, API, media, exports, search
and themes, API tokens, and the audit trail."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient

from insightcap.auth import audit
from insightcap.auth.accounts import set_disabled
from insightcap.auth.schema import Role
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope

pytest_plugins = ["tests.web_fixtures"]
pytest.register_assert_rewrite("tests.web_fixtures")
from tests.web_fixtures import PASSWORD, ZOOM_VTT, make_account

PROGRAM = "Mentoring cohort"  # the seeded session's program
PHRASE = "long email with every problem"  # said only in the seeded session


def bearer(app, token: str) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"})


def sign_in(app, email: str, password: str = PASSWORD) -> TestClient:
    browser = TestClient(app, raise_server_exceptions=False)
    response = browser.post("/login", data={"email": email, "password": password, "next": "/"},
                            follow_redirects=False)
    assert response.status_code == 303, response.text
    return browser


def csrf_of(browser: TestClient, path: str = "/") -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', browser.get(path).text).group(1)


def approve(settings, session_id: str) -> None:
    with session_scope(settings) as db:
        repo.set_memo_status(db, session_id, "approved", 1, by="admin@example.org")


def test_every_api_route_but_health_answers_401_without_credentials(app, anonymous) -> None:
    paths = app.openapi()["paths"]
    assert len(paths) > 15
    for path, operations in paths.items():
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for method in operations:
            response = anonymous.request(method.upper(), concrete)
            if path == "/api/health":
                assert response.status_code == 200
            else:
                assert response.status_code == 401, (method, path, response.status_code)
                assert response.headers["www-authenticate"] == "Bearer"
    assert anonymous.get("/api/sessions", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert anonymous.get("/api/sessions", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}).status_code == 401


def test_pages_send_strangers_to_the_sign_in_page(anonymous, seeded_session) -> None:
    response = anonymous.get(f"/sessions/{seeded_session}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=%2Fsessions%2F{seeded_session}"
    login_page = anonymous.get(response.headers["location"])
    assert 'name="password"' in login_page.text and "Mentoring" not in login_page.text


def test_sign_in_sets_a_protected_cookie_and_returns_to_the_page(app, settings, seeded_session) -> None:
    make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,))
    browser = TestClient(app, raise_server_exceptions=False)
    response = browser.post("/login", follow_redirects=False, data={
        "email": "FAC@example.org ", "password": PASSWORD, "next": f"/sessions/{seeded_session}"})
    assert response.status_code == 303 and response.headers["location"] == f"/sessions/{seeded_session}"
    cookie = SimpleCookie(response.headers["set-cookie"])["insightcap_session"]
    assert cookie["httponly"] and cookie["samesite"].lower() == "lax" and cookie["path"] == "/"
    assert "Feedback circle" in browser.get(f"/sessions/{seeded_session}").text
    # An offsite "next" is not followed.
    other = browser.post("/login", follow_redirects=False,
                         data={"email": "fac@example.org", "password": PASSWORD, "next": "//evil.example/x"})
    assert other.headers["location"] == "/"


def test_after_an_expired_sign_in_the_sign_in_page_says_why_and_returns_to_the_page(app, settings, seeded_session) -> None:
    """A form sent once the sign-in ended goes back to the page it was sent from (its own address may
    answer only POST), and the sign-in page says what happened to what was sent."""
    make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,))
    editor = f"/sessions/{seeded_session}/memo"
    stale = TestClient(app, raise_server_exceptions=False, cookies={"insightcap_session": "an-expired-sign-in"})
    sent = stale.post(editor, data={"markdown": "Typed before the sign-in expired.", "version": 1},
                      headers={"Referer": f"http://testserver{editor}?saved=1"}, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/login?next=%2Fsessions%2F{seeded_session}%2Fmemo%3Fsaved%3D1&why=unsent"
    login = stale.get(sent.headers["location"]).text
    assert "Your sign-in had expired, so what you just sent was not saved." in login
    assert "text you typed into a memo is kept in this browser" in login
    assert f'name="next" value="{editor}?saved=1"' in login
    back = stale.post("/login", data={"email": "fac@example.org", "password": PASSWORD, "next": f"{editor}?saved=1"},
                      follow_redirects=False)
    assert back.headers["location"] == f"{editor}?saved=1"
    with session_scope(settings) as db:
        assert repo.latest_memo(db, seeded_session).version == 1  # nothing was saved without a sign-in

    opened = TestClient(app, raise_server_exceptions=False, cookies={"insightcap_session": "an-expired-sign-in"})
    expired = opened.get(editor, follow_redirects=False).headers["location"]
    assert expired == f"/login?next=%2Fsessions%2F{seeded_session}%2Fmemo&why=expired"
    assert "Your sign-in has expired. Sign in again to go back to the page you were on." in opened.get(expired).text
    # A form sent from another site's page, or without a Referer, goes to the start page after signing in.
    anonymous = TestClient(app, raise_server_exceptions=False)
    for headers in ({"Referer": f"https://evil.example{editor}"}, {}):
        elsewhere = anonymous.post(f"/sessions/{seeded_session}/speakers", data={"speaker": "x"}, headers=headers,
                                   follow_redirects=False)
        assert elsewhere.headers["location"] == "/login?next=%2F&why=unsent"
    assert "Sign in to open the page you asked for" in anonymous.get(f"/login?next={editor}").text
    assert 'id="login-reason"' not in anonymous.get("/login?next=%2F").text


def test_secure_cookies_when_configured(settings, queue) -> None:
    from insightcap.web.app import create_app

    make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,))
    strict = create_app(settings.model_copy(update={"secure_cookies": True}), queue=queue)
    with TestClient(strict) as browser:
        response = browser.post("/login", data={"email": "fac@example.org", "password": PASSWORD},
                                follow_redirects=False)
    assert SimpleCookie(response.headers["set-cookie"])["insightcap_session"]["secure"]


def test_wrong_passwords_are_rate_limited(app, settings) -> None:
    make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,))
    browser = TestClient(app, raise_server_exceptions=False)
    for _ in range(settings.login_attempts):
        wrong = browser.post("/login", data={"email": "fac@example.org", "password": "not the password"})
        assert wrong.status_code == 401 and "do not match" in wrong.text
    blocked = browser.post("/login", data={"email": "fac@example.org", "password": PASSWORD})
    assert blocked.status_code == 429 and "Try again in about 15 minutes" in blocked.text
    with session_scope(settings) as db:
        assert len(audit.recent(db, action="sign_in_failed")) == settings.login_attempts


def test_cookie_changes_need_the_pages_csrf_token(app, settings, seeded_session) -> None:
    make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,))
    browser = sign_in(app, "fac@example.org")
    form = {"markdown": "# Edited\n", "version": "1"}
    forged = browser.post(f"/sessions/{seeded_session}/memo", data=form, follow_redirects=False)
    assert forged.status_code == 403 and "Reload the page" in forged.text
    assert browser.put(f"/api/sessions/{seeded_session}/memo", json={"markdown": "x", "version": 1}).status_code == 403
    token = csrf_of(browser, f"/sessions/{seeded_session}/memo")
    saved = browser.post(f"/sessions/{seeded_session}/memo", data={**form, "csrf_token": token}, follow_redirects=False)
    assert saved.status_code == 303
    by_script = browser.put(f"/api/sessions/{seeded_session}/memo", json={"markdown": "# Again\n", "version": 2},
                            headers={"X-CSRF-Token": token})
    assert by_script.status_code == 200 and by_script.json()["author"] == "fac@example.org"


def test_withdrawing_an_approved_version_needs_the_pages_csrf_token(app, settings, seeded_session) -> None:
    make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,))
    approve(settings, seeded_session)
    browser, editor = sign_in(app, "fac@example.org"), f"/sessions/{seeded_session}/memo"
    browser.post(editor, data={"markdown": "# A newer draft\n", "version": "1", "csrf_token": csrf_of(browser, editor)})
    forged = browser.post(f"{editor}/withdraw", data={"version": "1"}, follow_redirects=False)
    assert forged.status_code == 403
    with session_scope(settings) as db:
        assert repo.latest_memo(db, seeded_session, approved_only=True).version == 1
    form = re.search(r'id="withdraw-form"><input type="hidden" name="csrf_token" value="([^"]+)"', browser.get(editor).text)
    withdrawn = browser.post(f"{editor}/withdraw", data={"version": "1", "csrf_token": form[1]}, follow_redirects=False)
    assert withdrawn.status_code == 303
    with session_scope(settings) as db:
        assert repo.latest_memo(db, seeded_session, approved_only=True) is None


def test_sign_out_and_password_change_end_other_sign_ins(app, settings) -> None:
    make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,))
    laptop, phone = sign_in(app, "fac@example.org"), sign_in(app, "fac@example.org")
    new_password = "another long password"
    changed = laptop.post("/account/password", follow_redirects=False, data={
        "current": PASSWORD, "new": new_password, "confirm": new_password, "csrf_token": csrf_of(laptop, "/account")})
    assert changed.status_code == 303
    assert "other browsers were signed out" in laptop.get(changed.headers["location"]).text
    assert phone.get("/", follow_redirects=False).status_code == 303  # signed out
    laptop.post("/logout", data={"csrf_token": csrf_of(laptop)})
    assert laptop.get("/", follow_redirects=False).status_code == 303
    assert sign_in(app, "fac@example.org", new_password).get("/").status_code == 200


def test_a_program_outsider_sees_nothing_of_it_anywhere(app, settings, seeded_session) -> None:
    from insightcap.search.indexing import index_session

    index_session(settings, seeded_session)
    outsider = bearer(app, make_account(settings, "other@example.org", Role.FACILITATOR, ("Another circle",)))
    for path in (f"/api/sessions/{seeded_session}", f"/api/sessions/{seeded_session}/memo",
                 f"/api/sessions/{seeded_session}/media", f"/api/sessions/{seeded_session}/memo/export/md",
                 f"/api/sessions/{seeded_session}/memo/versions", f"/sessions/{seeded_session}"):
        response = outsider.get(path)
        assert response.status_code == 404 and "Feedback circle" not in response.text, path
    assert outsider.get("/api/sessions").json() == []
    assert [p["name"] for p in outsider.get("/api/programs").json()] == ["Another circle"]
    assert outsider.get("/api/search", params={"q": PHRASE}).json()["hits"] == []
    assert outsider.get(f"/api/programs/{PROGRAM}/themes").status_code == 404
    assert outsider.delete(f"/api/sessions/{seeded_session}").status_code == 404
    assert outsider.put(f"/api/sessions/{seeded_session}/memo", json={"markdown": "x", "version": 1}).status_code == 404
    search_page = outsider.get("/search", params={"q": PHRASE}).text
    assert "Feedback circle" not in search_page and "Mentoring" not in search_page
    # The program's facilitator finds it.
    insider = bearer(app, make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,)))
    assert insider.get("/api/search", params={"q": PHRASE}).json()["hits"][0]["session_id"] == seeded_session


def test_members_read_only_approved_memos_and_change_nothing(app, settings, seeded_session) -> None:
    member = bearer(app, make_account(settings, "member@example.org", Role.MEMBER, (PROGRAM,)))
    assert member.get("/api/sessions").json() == []
    assert member.get(f"/api/sessions/{seeded_session}").status_code == 404
    assert member.get("/api/search", params={"q": PHRASE}).json()["hits"] == []

    approve(settings, seeded_session)
    facilitator = bearer(app, make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,)))
    draft = facilitator.put(f"/api/sessions/{seeded_session}/memo",
                            json={"markdown": "# Unapproved edit\n", "version": 1}).json()
    assert draft["status"] == "draft" and draft["version"] == 2

    assert [s["id"] for s in member.get("/api/sessions").json()] == [seeded_session]
    detail = member.get(f"/api/sessions/{seeded_session}").json()
    assert detail["can_edit"] is False and detail["transcript"]
    memo = member.get(f"/api/sessions/{seeded_session}/memo").json()
    assert memo["version"] == 1 and memo["status"] == "approved"
    assert "Unapproved" not in member.get(f"/api/sessions/{seeded_session}/memo/export/md").text
    history = member.get(f"/api/sessions/{seeded_session}/memo/versions")
    assert history.status_code == 403 and "see its memo's drafts and history" in history.json()["detail"]
    assert member.put(f"/api/sessions/{seeded_session}/memo", json={"markdown": "x", "version": 2}).status_code == 403
    assert member.put(f"/api/sessions/{seeded_session}/speakers",
                      json={"speaker": "Marcus Johnson", "name": "M"}).status_code == 403
    assert member.delete(f"/api/sessions/{seeded_session}").status_code == 403
    assert member.get(f"/api/programs/{PROGRAM}/themes").status_code == 403
    assert member.get("/api/search", params={"q": PHRASE}).json()["hits"]
    upload = member.post("/api/sessions", files={"file": ("zoom.vtt", ZOOM_VTT.read_bytes(), "text/vtt")})
    assert upload.status_code == 403
    page = member.get(f"/sessions/{seeded_session}/memo").text
    assert 'id="memo-read"' in page and 'id="memo-form"' not in page


def test_facilitators_upload_only_into_their_programs(app, settings, queue) -> None:
    facilitator = bearer(app, make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,)))
    files = {"file": ("zoom.vtt", ZOOM_VTT.read_bytes(), "text/vtt")}
    refused = facilitator.post("/api/sessions", files=files, data={"program": "Someone else's circle"})
    assert refused.status_code == 403 and "Ask an admin" in refused.json()["detail"]
    assert not queue.submitted and not list((settings.data_dir / "uploads").iterdir())
    with session_scope(settings) as db:
        assert repo.list_sessions(db) == []
    accepted = facilitator.post("/api/sessions", files=files, data={"program": PROGRAM})
    assert accepted.status_code == 202 and len(queue.submitted) == 1


def test_disabled_accounts_and_revoked_tokens_lose_access(app, settings) -> None:
    token = make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,))
    scripted = bearer(app, token)
    assert scripted.get("/api/me").json() == {"email": "fac@example.org", "is_admin": False,
                                               "programs": {PROGRAM: "facilitator"}}
    with session_scope(settings) as db:
        set_disabled(db, "fac@example.org", True)
    assert scripted.get("/api/me").status_code == 401
    refused = TestClient(app).post("/login", data={"email": "fac@example.org", "password": PASSWORD})
    assert refused.status_code == 401


def test_views_exports_and_edits_are_in_the_audit_log(app, settings, seeded_session) -> None:
    facilitator = bearer(app, make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,)))
    facilitator.get(f"/api/sessions/{seeded_session}")
    facilitator.get(f"/api/sessions/{seeded_session}/memo/export/md")
    facilitator.put(f"/api/sessions/{seeded_session}/memo", json={"markdown": "# New\n", "version": 1})
    with session_scope(settings) as db:
        events = [(e.actor, e.action, e.target) for e in audit.recent(db, actor="fac@example.org")]
    assert events[:3] == [("fac@example.org", "edit_memo", seeded_session),
                          ("fac@example.org", "export_memo", seeded_session),
                          ("fac@example.org", "view_session", seeded_session)]


def test_responses_carry_security_headers(anonymous) -> None:
    headers = anonymous.get("/login").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"


def test_a_facilitator_deletes_a_session_everywhere(app, settings, seeded_session) -> None:
    from insightcap.search.indexing import index_session

    index_session(settings, seeded_session)
    facilitator = bearer(app, make_account(settings, "fac@example.org", Role.FACILITATOR, (PROGRAM,)))
    assert facilitator.get("/api/search", params={"q": PHRASE}).json()["hits"]
    assert facilitator.delete(f"/api/sessions/{seeded_session}").status_code == 204
    assert facilitator.get(f"/api/sessions/{seeded_session}").status_code == 404
    assert facilitator.get("/api/search", params={"q": PHRASE}).json()["hits"] == []
    assert facilitator.get("/api/sessions").json() == []
    with session_scope(settings) as db:
        deletion = audit.recent(db, action="delete_session")[0]
    assert deletion.target == seeded_session and "Feedback" not in deletion.detail
