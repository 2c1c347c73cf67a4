"""Rules: each rule with its trigger, mode, rollout, holdout, channels and funnel for the
period; operators switch a rule live / dry-run / paused and change rollout and holdout
(stored and audited by :func:`notifier.detect.overrides.change_rule`, applied by every
worker at its next tick)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from notifier.authoring import rules_for
from notifier.console.auth import Permission
from notifier.console.pages.dashboard import choose_period
from notifier.console.web import BASE, Console, Visitor
from notifier.detect.overrides import MODES, change_rule, effective, read_overrides
from notifier.detect.rules import RuleSet, load_rules
from notifier.errors import RuleError
from notifier.store.db import transaction
from notifier.track.activity import funnels


def current_rules(console: Console) -> RuleSet:
    """The rules as workers apply them: the published set with the stored switches over."""
    with console.runtime.sessions() as session:
        published = rules_for(session, console.runtime.settings, check_templates=False)
        if not len(published):  # nothing stored yet: the shipped files (as a first start)
            published = load_rules(console.runtime.settings.paths.rules_dir)
        return effective(published, read_overrides(session))


def _number(value: str, field: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value.replace(",", "."))
    except ValueError as exc:
        raise HTTPException(400, f"{field}: not a number") from exc


def build(console: Console) -> APIRouter:
    router = APIRouter()

    def data(query: dict[str, str]) -> dict[str, object]:
        period = choose_period(console, query)
        rules = current_rules(console)
        with console.runtime.sessions() as session:
            rule_funnels = funnels(session, period=period)
        return {"rules": list(rules), "funnels": rule_funnels, "period": period,
                "modes": MODES}

    @router.get("/rules", response_class=HTMLResponse)
    async def rules_page(request: Request, visitor: Visitor = Depends(console.page())
                         ) -> HTMLResponse:
        found = await run_in_threadpool(data, dict(request.query_params))
        return console.render(request, visitor, "rules.html", **found)

    @router.post("/rules/{name}")
    async def change(name: str, request: Request,
                     mode: Annotated[str, Form()] = "",
                     rollout: Annotated[str, Form()] = "",
                     holdout: Annotated[str, Form()] = "",
                     visitor: Visitor = Depends(console.action(Permission.RULES))) -> Response:
        actor = visitor.user.email if visitor.user else "?"
        new_rollout, new_holdout = _number(rollout, "rollout"), _number(holdout, "holdout")

        def store() -> None:
            rules = current_rules(console)
            with transaction(console.runtime.sessions) as session:
                change_rule(session, rules=rules, rule=name, actor=actor, now=console.now(),
                            mode=mode or None, rollout=new_rollout, holdout=new_holdout)

        try:
            await run_in_threadpool(store)
        except RuleError as exc:
            raise HTTPException(400, "; ".join(exc.problems)) from exc
        return console.redirect(f"{BASE}/rules#rule-{name}")

    return router
