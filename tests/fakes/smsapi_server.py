"""A local stand-in for SMSAPI.pl's ``sms.do``, driven through the real ``smsapi-client``.

    with FakeSmsapi(token="secret") as smsapi:
        settings = SmsapiSettings(access_token="secret", api_base_url=smsapi.url + "/")
        smsapi.script(Reply(502, "Bad Gateway"))      # the gateway's own trouble
        smsapi.invalid.add("48500000000")              # answered with error 13
        smsapi.answer_late_s = 2.0                     # takes the next one, answers late
        ...
        smsapi.sent                # form fields of every accepted message
        smsapi.report(msg_id, 404) # the GET query SMSAPI sends to notify_url

Answers are SMSAPI-shaped JSON (``format=json``): ``{"count", "list": [{"id", "points",
"number", "status": "QUEUE", "idx", "parts"}]}``; errors ``{"error": N, "message"}``: 101
for a wrong token (HTTP 401), 13 for an invalid number, 53 for an idx already used with
``check_idx=1``, 11 for special characters with ``nounicode=1``, 12 for more parts than
``max_parts``.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from notifier.compose.sms import measure
from tests.fakes.http import FakeHttpServer, Recorded, Reply


class FakeSmsapi(FakeHttpServer):
    def __init__(self, *, token: str, username: str = "sklep") -> None:
        super().__init__()
        self.token = token
        self.username = username
        self.sent: list[dict[str, str]] = []
        self.invalid: set[str] = set()
        self._ids = itertools.count(100_001)
        self._by_id: dict[str, dict[str, str]] = {}
        self.answer_late_s = 0.0  # accept the next message, then answer this much later

    def handle(self, request: Recorded) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return Reply(401, {"error": 101, "message": "Authorization failed"})
        if request.path != "/sms.do" or request.method != "POST":
            return Reply(404, {"error": 8, "message": "unknown call"})
        scripted = self.take_scripted()
        if scripted is not None:
            return scripted
        form = request.form()
        error = self._refusal(form)
        if error is not None:
            return Reply(200, error)
        size = measure(form["message"])
        msg_id = f"{next(self._ids)}{'A' * 6}"
        self.sent.append(form)
        self._by_id[msg_id] = form
        if self.answer_late_s:
            late, self.answer_late_s = self.answer_late_s, 0.0
            time.sleep(late)  # a slow network after the gateway took the message
        return Reply(200, {"count": 1, "list": [{
            "id": msg_id, "points": 0.16 * size.segments, "number": form["to"],
            "date_sent": 1764579600, "submitted_number": form["to"], "status": "QUEUE",
            "error": None, "idx": form.get("idx"), "parts": size.segments}],
            "message": form["message"], "length": len(form["message"]),
            "parts": size.segments})

    def _refusal(self, form: dict[str, str]) -> dict[str, Any] | None:
        to = form.get("to", "")
        if to in self.invalid or not (to.isdigit() and len(to) == 11 and to.startswith("48")):
            return {"error": 13, "message": "No correct phone numbers",
                    "invalid_numbers": [{"number": to, "submitted_number": to,
                                         "message": "Invalid phone number"}]}
        if form.get("check_idx") == "1" and any(s.get("idx") == form.get("idx")
                                                for s in self.sent):
            return {"error": 53, "message": "Not unique idx"}
        size = measure(form.get("message", ""))
        if form.get("nounicode") == "1" and size.encoding != "GSM-7":
            return {"error": 11, "message": "Message contains special characters"}
        if "max_parts" in form and size.segments > int(form["max_parts"]):
            return {"error": 12, "message": "Message has more parts than max_parts"}
        return None

    def report(self, msg_id: str, status: int, *, donedate: int = 1764580000) -> dict[str, str]:
        """The query SMSAPI sends to a message's notify_url for one status."""
        form = self._by_id[msg_id]
        return {"MsgId": msg_id, "status": str(status), "idx": form.get("idx", ""),
                "donedate": str(donedate), "username": self.username, "points": "0.16",
                "from": form.get("from", "Test"), "to": form["to"], "mcc": "260", "mnc": "2"}
