"""The embedded default: every channel writes what it would send under ``outbox_dir``.

A fresh install sends nothing to real customers yet shows exactly what would go out:
``email/*.eml`` opens in any mail client, ``sms/*.json`` and ``push/*.json`` are plain
JSON. The file name comes from the idempotency key, so a repeated send overwrites its
file instead of adding a second one; writes are atomic (temp file + rename), so a reader
never sees half a message.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from notifier.deliver.base import ChannelBase, safe_filename
from notifier.deliver.email import message_id
from notifier.domain import Channel, EmailMessage, Outgoing, PushMessage, SendResult, SmsMessage
from notifier.mime import mime_bytes


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _FileChannel(ChannelBase):
    idempotent = True  # one file per idempotency key: a second send rewrites it
    name = "outbox"
    suffix = ".json"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, outgoing: Outgoing) -> SendResult:
        path = self.directory / f"{safe_filename(outgoing.idempotency_key)}{self.suffix}"
        await asyncio.to_thread(write_atomic, path, self._render(outgoing))
        return SendResult(provider_id=path.name, detail=str(path))

    def _render(self, outgoing: Outgoing) -> bytes:
        record: dict[str, Any] = {
            "idempotency_key": outgoing.idempotency_key,
            **asdict(outgoing.message),  # type: ignore[call-overload]
        }
        return json.dumps(record, ensure_ascii=False, indent=2, default=str).encode()


class FileEmailChannel(_FileChannel):
    """Writes ``<outbox>/email/<key>.eml``, byte-for-byte what SMTP would carry."""

    kind = Channel.EMAIL
    suffix = ".eml"

    def __init__(self, directory: Path, *, default_from: str) -> None:
        super().__init__(directory)
        self._default_from = default_from

    def _render(self, outgoing: Outgoing) -> bytes:
        message = self._message(outgoing, EmailMessage)
        if not message.from_addr:
            message = replace(message, from_addr=self._default_from)
        msgid = message_id(outgoing.idempotency_key, message.from_addr)
        return mime_bytes(message, message_id=msgid)


class FileSmsChannel(_FileChannel):
    """Writes ``<outbox>/sms/<key>.json``."""

    kind = Channel.SMS

    def _render(self, outgoing: Outgoing) -> bytes:
        self._message(outgoing, SmsMessage)
        return super()._render(outgoing)


class FilePushChannel(_FileChannel):
    """Writes ``<outbox>/push/<key>.json``."""

    kind = Channel.PUSH

    def _render(self, outgoing: Outgoing) -> bytes:
        self._message(outgoing, PushMessage)
        return super()._render(outgoing)
