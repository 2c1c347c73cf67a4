"""The editors over HTTP: who may open them, the preview and its problems, publishing
refused and then done, restoring, and the rule form written into TOML (comments kept)
and simulated as ``notifier rules simulate`` prints it."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from notifier import authoring
from notifier.detect.simulate import format_simulation, parse_moment, simulate
from notifier.runtime import Runtime
from tests.console.conftest import csrf_of, email_of, sign_in

NAME = "order_unshipped"
EMAIL = f"{NAME}/pl/email.html"


def live_files(runtime: Runtime, kind: str, name: str) -> dict[str, str]:
    with runtime.sessions() as session:
        version = authoring.live(session, kind, name)
    assert version is not None
    return dict(version.files)


def open_editor(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def test_editors_open_for_their_roles_only(client: TestClient, users: dict[str, str]) -> None:
    expected = {"owner": (200, 200), "marketer": (200, 403), "operator": (403, 200),
                "viewer": (403, 403)}
    for role, (templates, rules) in expected.items():
        client.cookies.clear()
        sign_in(client, email_of(role))
        assert client.get(f"/console/editor/templates/{NAME}").status_code == templates, role
        assert client.get("/console/editor/templates").status_code == templates, role
        assert client.get("/console/editor/rules/cart-abandoned").status_code == rules, role


def test_preview_checks_publish_refuses_then_publishes_and_restores(
        client: TestClient, users: dict[str, str], runtime: Runtime) -> None:
    sign_in(client, users["marketer"])
    csrf = open_editor(client, f"/console/editor/templates/{NAME}")
    files = live_files(runtime, "template", NAME)
    original = files[EMAIL]
    broken = original.replace("<p>{{ customer|greeting }},</p>",
                              "<p>{{ customer|greeting }},</p>\n<p>{{ nope }}</p>")
    form = {**files, EMAIL: broken, "locale": "pl", "sample": "sample:", "csrf": csrf}
    preview = client.post(f"/console/editor/templates/{NAME}/preview", data=form,
                          headers={"hx-request": "true"})
    assert preview.status_code == 200 and "nope" in preview.text  # the email's render error
    assert f"/console/editor/templates/{NAME}/check" in preview.text  # fetched after
    check = client.post(f"/console/editor/templates/{NAME}/check", data=form,
                        headers={"hx-request": "true"})
    found = re.search(r'<script type="application/json" id="editor-problems">(.*?)</script>',
                      check.text, re.DOTALL)
    assert found
    problems = json.loads(found.group(1))
    line = broken.splitlines().index("<p>{{ nope }}</p>") + 1
    assert [p["line"] for p in problems[EMAIL]] == [line]
    assert "undefined" in problems[EMAIL][0]["message"]

    refused = client.post(f"/console/editor/templates/{NAME}/publish", data=form,
                          follow_redirects=False)
    assert refused.status_code == 400 and "Publishing refused" in refused.text
    assert live_files(runtime, "template", NAME)[EMAIL] == original

    fixed = original.replace("przepraszamy", "bardzo przepraszamy")
    done = client.post(f"/console/editor/templates/{NAME}/publish",
                       data={**form, EMAIL: fixed, "note": "warmer"}, follow_redirects=False)
    assert done.status_code == 303
    assert live_files(runtime, "template", NAME)[EMAIL] == fixed
    with runtime.sessions() as session:
        history = authoring.history(session, "template", NAME)
    first = history[-1]
    assert [v.state for v in history[:2]] == ["published", "draft"]  # the refused one kept
    back = client.post(f"/console/editor/templates/{NAME}/restore/{first.id}",
                       data={"csrf": csrf}, follow_redirects=False)
    assert back.status_code == 303
    assert live_files(runtime, "template", NAME)[EMAIL] == original


def test_the_rule_form_writes_the_toml_and_simulates_as_the_cli(
        client: TestClient, users: dict[str, str], runtime: Runtime) -> None:
    sign_in(client, users["operator"])
    csrf = open_editor(client, "/console/editor/rules/cart-abandoned")
    text = live_files(runtime, "rule", "cart-abandoned")["cart-abandoned.toml"]
    synced = client.post("/console/editor/rules/cart-abandoned/from-form", data={
        "csrf": csrf, "toml": text, "steps[0].delay": "2h", "steps[0].template": "cart_reminder"},
        headers={"hx-request": "true"})
    assert synced.status_code == 200
    found = re.search(r'id="rule-toml-new">(.*?)</script>', synced.text, re.DOTALL)
    assert found
    draft = json.loads(found.group(1))
    assert 'delay = "2h"                     # 1 h po ostatniej' in draft
    bad = client.post("/console/editor/rules/cart-abandoned/from-form", data={
        "csrf": csrf, "toml": text, "steps[1].delay": "0h"}, headers={"hx-request": "true"})
    assert "later than the step before" in bad.text

    sim = client.post("/console/editor/rules/cart-abandoned/simulate", data={
        "csrf": csrf, "toml": draft, "sim_from": "2026-11-01", "sim_to": "2026-12-02"})
    assert sim.status_code == 200
    zone = runtime.settings.shop.timezone
    with runtime.sessions() as session:
        rules = authoring.rules_for(session, runtime.settings, name="cart-abandoned",
                                    files={"cart-abandoned.toml": draft})
    expected = format_simulation(simulate(
        runtime.sessions, rules, parse_moment("2026-11-01", zone),
        parse_moment("2026-12-02", zone), rule_name="cart-abandoned", show=5))
    printed = re.search(r'<pre class="sim-printed">(.*?)</pre>', sim.text, re.DOTALL)
    assert printed and printed.group(1) == expected.replace("&", "&amp;").replace(
        "<", "&lt;").replace(">", "&gt;")
