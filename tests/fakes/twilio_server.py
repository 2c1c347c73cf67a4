"""A local stand-in for Twilio's Messages API, driven through the real ``twilio`` client.

    with FakeTwilio(account_sid="AC...", auth_token="secret") as twilio:
        settings = TwilioSettings(..., api_base_url=twilio.url)
        twilio.script(FakeTwilio.server_error(), FakeTwilio.error(21610))
        ...
        twilio.created            # form fields of every accepted message
        twilio.requests[-1].headers["I-Twilio-Idempotency-Token"]

Replies are Twilio-shaped: 201 with a ``SM...`` sid and ``status: queued``; errors carry
``code``/``message``/``more_info``/``status`` like the real API. Wrong basic auth gets 401
(code 20003). :func:`twilio_signature` signs a status callback the way Twilio does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
from collections.abc import Mapping
from email.utils import formatdate

from tests.fakes.http import FakeHttpServer, Recorded, Reply

_MESSAGES = r"/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json"


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature per Twilio's spec: HMAC-SHA1 over the URL + sorted key/values."""
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class FakeTwilio(FakeHttpServer):
    def __init__(self, *, account_sid: str, auth_token: str, prefix: str = "") -> None:
        """``prefix`` mounts the API under a path, as a regional proxy might."""
        super().__init__()
        self._messages = re.compile(re.escape(prefix) + _MESSAGES)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.created: list[dict[str, str]] = []
        self._numbers = itertools.count(1)

    @staticmethod
    def error(
        code: int, *, status: int = 400, message: str = "", headers: dict | None = None
    ) -> Reply:
        body = {
            "code": code,
            "message": message or f"Error {code}",
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return Reply(status, body, headers or {})

    @classmethod
    def server_error(cls) -> Reply:
        return cls.error(20500, status=500, message="Internal Server Error")

    @classmethod
    def rate_limited(cls, retry_after: str = "7") -> Reply:
        return cls.error(
            20429, status=429, message="Too Many Requests", headers={"Retry-After": retry_after}
        )

    def handle(self, request: Recorded) -> Reply:
        match = self._messages.fullmatch(request.path)
        if request.method != "POST" or match is None:
            return self.error(20404, status=404, message="The requested resource was not found")
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if (
            match["sid"] != self.account_sid
            or request.headers["Authorization"] != f"Basic {expected}"
        ):
            return self.error(20003, status=401, message="Authenticate")
        if (scripted := self.take_scripted()) is not None:
            return scripted
        form = request.form()
        self.created.append(form)
        sid = f"SM{next(self._numbers):032x}"
        return Reply(201, self._instance(sid, form))

    def _instance(self, sid: str, form: dict[str, str]) -> dict:
        now = formatdate(usegmt=True)
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "status": "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": form.get("To"),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
