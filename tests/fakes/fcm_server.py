"""A local FCM HTTP v1 endpoint plus the Google OAuth2 token endpoint it trusts.

    with FakeFcm(project_id="shop-app") as fcm:
        info = fcm.service_account()          # service-account JSON; token_uri -> this fake
        ...                                    # FcmSettings(api_base_url=fcm.url, ...)
        fcm.sent                               # "message" objects accepted
        fcm.token_requests                     # verified JWT-bearer assertions (claims)
        fcm.script(FakeFcm.error(404, "UNREGISTERED"))

``static_token`` is accepted as a bearer token too, for tests that inject a token source.
"""

from __future__ import annotations

import itertools
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.http import FakeHttpServer, Recorded, Reply

_GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class FakeFcm(FakeHttpServer):
    def __init__(self, *, project_id: str, static_token: str = "static-test-token") -> None:
        super().__init__()
        self.project_id = project_id
        self.static_token = static_token
        self.sent: list[dict[str, Any]] = []
        self.token_requests: list[dict[str, Any]] = []
        self._issued: set[str] = set()
        self._numbers = itertools.count(1)

    @cached_property
    def _key(self) -> rsa.RSAPrivateKey:  # RSA generation is slow: only when a test needs it
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @staticmethod
    def error(status: int, error_code: str = "", *, headers: dict | None = None) -> Reply:
        grpc = _GRPC_STATUS.get(status, "UNKNOWN")
        fcm_error = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
        details = [{"@type": fcm_error, "errorCode": error_code}] if error_code else []
        body = {
            "error": {
                "code": status,
                "message": error_code or grpc,
                "status": grpc,
                "details": details,
            }
        }
        return Reply(status, body, headers or {})

    def service_account(self) -> dict[str, str]:
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "test-key-1",
            "private_key": pem.decode(),
            "client_email": f"notifier@{self.project_id}.iam.gserviceaccount.com",
            "token_uri": f"{self.url}/token",
        }

    def handle(self, request: Recorded) -> Reply:
        if request.path == "/token":
            return self._token(request)
        if request.path != f"/v1/projects/{self.project_id}/messages:send":
            return self.error(404)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer != self.static_token and bearer not in self._issued:
            return self.error(401)
        if (scripted := self.take_scripted()) is not None:
            return scripted
        self.sent.append(request.json()["message"])
        return Reply(200, {"name": f"projects/{self.project_id}/messages/{next(self._numbers)}"})

    def _token(self, request: Recorded) -> Reply:
        form = request.form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Reply(400, {"error": "unsupported_grant_type"})
        try:
            claims = jwt.decode(
                form["assertion"],
                key=self._key.public_key(),
                algorithms=["RS256"],
                audience=f"{self.url}/token",
                # Time claims are recorded, not enforced, so tests can drive the clock.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except (KeyError, jwt.PyJWTError):
            return Reply(400, {"error": "invalid_grant"})
        self.token_requests.append(claims)
        token = f"ya29.fake-{len(self._issued) + 1}"
        self._issued.add(token)
        return Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
