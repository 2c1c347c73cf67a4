"""The message as the customer got it, read back from the file outbox.

With the embedded file channels every sent message is a file under
``<data_dir>/outbox/<channel>/`` named by its provider id; a real provider keeps no copy
for us, so there is nothing to show then (the trace says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from notifier.config import Settings
from notifier.store.tables import Notification


@dataclass(frozen=True)
class SentCopy:
    path: str
    subject: str | None
    text: str | None
    html: str | None


def sent_copy(settings: Settings, n: Notification) -> SentCopy | None:
    if not n.provider_id or not n.channel:
        return None
    folder = settings.paths.outbox_dir / n.channel
    path = folder / Path(n.provider_id).name  # a name, never a path out of the folder
    if not path.is_file():
        return None
    if path.suffix == ".eml":
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        return SentCopy(str(path), str(message["subject"] or ""),
                        text.get_content() if text else None,  # type: ignore[union-attr]
                        html.get_content() if html else None)  # type: ignore[union-attr]
    data = json.loads(path.read_text(encoding="utf-8"))
    body = data.get("body") or data.get("text")
    return SentCopy(str(path), data.get("title") or data.get("subject"),
                    body if isinstance(body, str) else json.dumps(data, indent=2,
                                                                  ensure_ascii=False), None)
