"""Sign-in, roles, CSRF, lockout and sign-out over HTTP against the real app."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.app import create_app
from notifier.clock import FrozenClock
from notifier.console.auth import LOCKOUT, MAX_FAILURES
from notifier.runtime import Runtime
from notifier.store.console_tables import AuditEntry, RuleSetting
from tests.console.conftest import PASSWORD, csrf_of, sign_in

RULE = "cart-abandoned"


def _rule_form(client: TestClient, **fields: str) -> dict[str, str]:
    return {"csrf": csrf_of(client.get("/console/rules").text), **fields}


def test_pages_ask_for_sign_in(client: TestClient) -> None:
    for path in ("/console/", "/console/rules", "/console/deliveries", "/console/audit"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login?next=")


def test_cookie_is_signed_http_only_lax(client: TestClient, users: dict[str, str]) -> None:
    page = client.get("/console/login")
    response = client.post("/console/login", data={
        "email": users["viewer"], "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    client.cookies.set("notifier_console", client.cookies["notifier_console"][:-2] + "xx",
                       path="/console")
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_cookie_is_secure_over_https(runtime: Runtime, users: dict[str, str]) -> None:
    with TestClient(create_app(runtime), base_url="https://console.example") as client:
        page = client.get("/console/login")
        assert "Secure" in page.headers["set-cookie"]


def test_post_without_csrf_token_is_refused(client: TestClient, users: dict[str, str],
                                            runtime: Runtime) -> None:
    sign_in(client, users["owner"])
    response = client.post(f"/console/rules/{RULE}", data={"mode": "paused"})
    assert response.status_code == 403
    wrong = client.post(f"/console/rules/{RULE}", data={"mode": "paused", "csrf": "forged"})
    assert wrong.status_code == 403
    anonymous = TestClient(client.app)
    assert anonymous.post("/console/login", data={"email": users["owner"],
                                                  "password": PASSWORD}).status_code == 403
    with runtime.sessions() as session:
        assert session.get(RuleSetting, RULE) is None


def test_viewer_sees_no_controls_and_a_forged_post_is_refused(
        client: TestClient, users: dict[str, str], runtime: Runtime) -> None:
    sign_in(client, users["viewer"])
    page = client.get("/console/rules")
    assert page.status_code == 200
    assert 'name="mode"' not in page.text and "/console/rules/" + RULE + '"' not in page.text
    token = csrf_of(page.text)  # the sign-out form carries it: the token itself is valid
    forged = client.post(f"/console/rules/{RULE}", data={"mode": "paused", "csrf": token})
    assert forged.status_code == 403
    assert client.get("/console/audit").status_code == 403
    assert client.post("/console/customers/1/erase",
                       data={"confirm": "x", "csrf": token}).status_code == 403
    with runtime.sessions() as session:
        assert session.get(RuleSetting, RULE) is None


def test_operator_switches_a_rule_and_it_is_audited(
        client: TestClient, users: dict[str, str], runtime: Runtime) -> None:
    sign_in(client, users["operator"])
    assert 'name="mode"' in client.get("/console/rules").text
    response = client.post(f"/console/rules/{RULE}", data=_rule_form(
        client, mode="paused", rollout="50", holdout="10"), follow_redirects=False)
    assert response.status_code == 303
    bad = client.post(f"/console/rules/{RULE}", data=_rule_form(client, rollout="150"))
    assert bad.status_code == 400 and "rollout" in bad.text
    with runtime.sessions() as session:
        row = session.get(RuleSetting, RULE)
        assert row is not None and (row.mode, row.rollout, row.holdout) == ("paused", 50, 10)
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "rule.change")).one()
    assert entry.actor == users["operator"] and entry.target == RULE
    assert entry.detail["before"]["mode"] == "live" and entry.detail["after"]["mode"] == "paused"
    assert 'mode-paused' in client.get("/console/rules").text


def test_five_wrong_passwords_lock_sign_in_for_a_while(
        client: TestClient, users: dict[str, str], clock: FrozenClock) -> None:
    def attempt(password: str) -> int:
        page = client.get("/console/login")
        return client.post("/console/login", data={
            "email": users["owner"], "password": password, "csrf": csrf_of(page.text)},
            follow_redirects=False).status_code

    assert [attempt("wrong password!") for _ in range(MAX_FAILURES)] == [401] * 4 + [429]
    assert attempt(PASSWORD) == 429  # the right password is refused while locked
    clock.set(clock() + LOCKOUT - timedelta(seconds=1))
    assert attempt(PASSWORD) == 429
    clock.set(clock() + timedelta(seconds=2))
    assert attempt(PASSWORD) == 303


def test_sign_out_ends_the_session_everywhere(client: TestClient, users: dict[str, str],
                                              runtime: Runtime) -> None:
    sign_in(client, users["owner"])
    stolen = client.cookies["notifier_console"]
    token = csrf_of(client.get("/console/").text)
    assert client.post("/console/logout", data={"csrf": token},
                       follow_redirects=False).status_code == 303
    assert client.get("/console/", follow_redirects=False).status_code == 303
    replay = TestClient(client.app)
    replay.cookies.set("notifier_console", stolen, path="/console")
    assert replay.get("/console/", follow_redirects=False).status_code == 303


def test_roles_reach_their_pages(client: TestClient, users: dict[str, str]) -> None:
    expected = {"owner": 200, "operator": 403, "marketer": 403, "viewer": 403}
    for role, email in users.items():
        fresh = TestClient(client.app)
        sign_in(fresh, email)
        for path in ("/console/", "/console/rules", "/console/deliveries",
                     "/console/customers", "/console/offers", "/console/health"):
            assert fresh.get(path).status_code == 200, (role, path)
        assert fresh.get("/console/audit").status_code == expected[role], role
