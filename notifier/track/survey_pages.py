"""The one-click answer page: ``GET /s/{token}`` records, ``POST /s/{token}`` adds a comment.

Server-rendered, Polish or English (the customer's locale, else the shop's), no
JavaScript: the score links and the comment form work in any mail client's browser.
A request that looks like a mail scanner (``HEAD``, a scanner User-Agent, within the
grace period after sending) sees the page but records nothing; its button records.
"""

from __future__ import annotations

import html
from datetime import timedelta

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from notifier.runtime import Runtime
from notifier.store.tables import Customer, Notification
from notifier.track.clicks import SCANNER_AGENTS
from notifier.track.surveys import Answer, parse_answer_token, record_answer, survey_links

TEXT = {
    "pl": {"title": "Dziękujemy za ocenę", "thanks": "Dziękujemy! Twoja ocena: {score}.",
           "changed": "Zmieniliśmy Twoją ocenę na {score}.",
           "change": "Chcesz zmienić ocenę? Wybierz inną:",
           "comment": "Chcesz coś dodać? (nieobowiązkowe)", "send": "Wyślij komentarz",
           "saved": "Dziękujemy, komentarz zapisany.",
           "confirm": "Potwierdź ocenę {score}", "score": "Ocena {score}",
           "invalid": "Ten link jest nieprawidłowy.", "lang": "pl",
           "csat": "Jak oceniasz zakupy u nas? (1 — źle, 5 — świetnie)",
           "nps": "Jak bardzo prawdopodobne jest, że polecisz nas znajomym? (0–10)"},
    "en": {"title": "Thank you for your rating", "thanks": "Thank you! Your rating: {score}.",
           "changed": "We changed your rating to {score}.",
           "change": "Want to change it? Pick another:",
           "comment": "Anything to add? (optional)", "send": "Send comment",
           "saved": "Thank you, your comment is saved.",
           "confirm": "Confirm rating {score}", "score": "Rating {score}",
           "invalid": "This link is not valid.", "lang": "en",
           "csat": "How satisfied are you with your order? (1 — poor, 5 — excellent)",
           "nps": "How likely are you to recommend us to a friend? (0–10)"},
}
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def build_survey_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["customers"])
    settings = runtime.settings
    secret = settings.server.secret_key.get_secret_value()
    grace = timedelta(seconds=settings.track.scanner_grace_s)

    def language(notification_id: int) -> tuple[str, bool]:
        """The page language, and whether this request may be a scanner's (too soon)."""
        with runtime.sessions() as session:
            n = session.get(Notification, notification_id)
            customer = session.get(Customer, n.customer_id) if n and n.customer_id else None
            locale = (customer.locale if customer else None) or settings.shop.default_locale
            soon = bool(n and n.sent_at and runtime.clock() - n.sent_at < grace)
        return ("pl" if locale.lower().startswith("pl") else "en"), soon

    def page(lang: str, body: str, status: int = 200) -> HTMLResponse:
        t = TEXT[lang]
        shop = html.escape(settings.shop.name)
        return HTMLResponse(
            f'<!doctype html><html lang="{t["lang"]}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>{t["title"]}</title><style>body{{font-family:system-ui,sans-serif;'
            "max-width:34rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
            ".scale a{display:inline-block;min-width:2.4em;padding:.5em;margin:.15em;"
            "border:1px solid #555;border-radius:4px;text-align:center;color:#000}"
            ".scale a[aria-current]{background:#222;color:#fff}"
            "textarea{width:100%;min-height:6em}button{font-size:1rem;padding:.5em 1em}"
            f"</style></head><body><main><h1>{shop}</h1>{body}</main></body></html>",
            status_code=status, headers=NO_STORE)

    def invalid() -> HTMLResponse:
        return page("pl", f"<p>{TEXT['pl']['invalid']}<br>{TEXT['en']['invalid']}</p>", 404)

    def answered(lang: str, token: str, answer: Answer, *, saved: bool = False) -> str:
        t = TEXT[lang]
        score = answer.score
        if not answer.recorded:
            head = (f'<p>{html.escape(t[answer.kind])}</p><form method="post">'
                    f'<input type="hidden" name="score" value="{score}">'
                    f'<button type="submit">{t["confirm"].format(score=score)}</button></form>')
        else:
            said = t["changed"] if answer.changed else t["thanks"]
            head = f'<p role="status">{said.format(score=score)}</p>'
        scale = "".join(
            f'<a href="{html.escape(url)}" aria-label="{t["score"].format(score=s)}"'
            + (' aria-current="true"' if s == score and answer.recorded else "")
            + f">{s}</a>"
            # Relative: the page links to itself, whatever host it was reached by.
            for s, url in survey_links("", answer.notification_id, answer.kind, secret))
        comment = html.escape(answer.comment or "")
        form = ("" if not answer.recorded else
                f'<form method="post"><input type="hidden" name="score" value="{score}">'
                f'<label for="comment">{t["comment"]}</label><br>'
                f'<textarea id="comment" name="comment" maxlength="4000">{comment}</textarea>'
                f'<br><button type="submit">{t["send"]}</button></form>')
        note = f'<p role="status">{t["saved"]}</p>' if saved else ""
        return (f'{head}{note}{form}<p>{t["change"]}</p>'
                f'<nav class="scale" aria-label="{t["change"]}">{scale}</nav>')

    @router.get("/s/{token}", response_class=HTMLResponse)
    async def answer_page(token: str, request: Request) -> HTMLResponse:
        parsed = parse_answer_token(token, secret)
        if parsed is None:
            return invalid()
        notification_id, score = parsed
        lang, soon = await run_in_threadpool(language, notification_id)
        agent = request.headers.get("user-agent", "").lower()
        scanner = soon or any(word in agent for word in SCANNER_AGENTS)
        answer = await run_in_threadpool(record_answer, runtime.sessions,
                                         notification_id=notification_id, score=score,
                                         now=runtime.clock(), record=not scanner)
        if answer is None:
            return invalid()
        return page(lang, answered(lang, token, answer))

    @router.post("/s/{token}", response_class=HTMLResponse)
    async def answer_comment(token: str, score: int | None = Form(None),
                             comment: str | None = Form(None)) -> HTMLResponse:
        parsed = parse_answer_token(token, secret)
        if parsed is None:
            return invalid()
        notification_id, linked = parsed
        chosen = linked if score is None else score
        lang, _ = await run_in_threadpool(language, notification_id)
        answer = await run_in_threadpool(
            record_answer, runtime.sessions, notification_id=notification_id,
            score=chosen if chosen in range(0, 11) else linked, now=runtime.clock(),
            comment=comment)
        if answer is None:
            return invalid()
        return page(lang, answered(lang, token, answer, saved=bool(comment)))

    return router


