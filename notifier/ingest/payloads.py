"""Shared helpers for turning raw bodies into validated records with named faults."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from notifier.errors import PayloadError

M = TypeVar("M", bound=BaseModel)


def decode_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"malformed JSON: {exc}", field="body", status_code=400) from exc


def field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validate(model: type[M], data: Any, *, context: dict[str, Any] | None = None,
             prefix: str = "") -> M:
    """``model.model_validate`` whose failure names the first field at fault."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = field_path(first["loc"])
        if prefix:
            path = f"{prefix}.{path}" if path != "body" else prefix
        raise PayloadError(f"{path}: {first['msg']}", field=path) from exc
