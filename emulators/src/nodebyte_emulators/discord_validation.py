"""Discord's checks on an execute-webhook body, with its error codes and messages."""

from dataclasses import dataclass

import msgspec

EMPTY_MESSAGE = {"code": 50006, "message": "Cannot send an empty message"}
INVALID_JSON = {"code": 50109, "message": "The request body contains invalid JSON."}

# Field limits from Discord's message and embed documentation.
_CONTENT_MAX = 2000
_EMBEDS_MAX = 10
_EMBED_TOTAL_MAX = 6000
_EMBED_TEXT = {"title": 256, "description": 4096}
_FIELDS_MAX = 25
_FIELD_TEXT = {"name": 256, "value": 1024}


@dataclass(slots=True)
class Rejection:
    """A 400 answer: the JSON body Discord sends."""

    body: dict


def _error(code: str, message: str) -> dict:
    return {"_errors": [{"code": code, "message": message}]}


def _too_long(limit: int) -> dict:
    return _error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _form_error(errors: dict) -> Rejection:
    return Rejection({"code": 50035, "errors": errors, "message": "Invalid Form Body"})


def parse(raw: bytes) -> dict | Rejection:
    """Decode and check a body; the decoded payload when Discord would accept it."""
    try:
        payload = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return Rejection(INVALID_JSON)
    if not isinstance(payload, dict):
        return Rejection(INVALID_JSON)
    errors = _field_errors(payload)
    if errors:
        return _form_error(errors)
    if not _has_body(payload):
        return Rejection(EMPTY_MESSAGE)
    return payload


def _has_body(payload: dict) -> bool:
    content = payload.get("content")
    has_content = isinstance(content, str) and content.strip() != ""
    others = ("embeds", "attachments", "components", "sticker_ids", "poll", "files")
    return has_content or any(payload.get(key) for key in others)


def _field_errors(payload: dict) -> dict:
    errors: dict = {}
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        errors["content"] = _error("BASE_TYPE_STRING", "Must be a string.")
    elif isinstance(content, str) and len(content) > _CONTENT_MAX:
        errors["content"] = _too_long(_CONTENT_MAX)
    username = payload.get("username")
    if username is not None:
        username_error = _username_error(username)
        if username_error:
            errors["username"] = username_error
    embeds = payload.get("embeds")
    if embeds is not None:
        embed_errors = _embeds_errors(embeds)
        if embed_errors:
            errors["embeds"] = embed_errors
    return errors


def _username_error(username: object) -> dict | None:
    if not isinstance(username, str):
        return _error("BASE_TYPE_STRING", "Must be a string.")
    if not 1 <= len(username) <= 80:
        return _error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")
    for word in ("discord", "clyde"):
        if word in username.lower():
            return _error("USERNAME_INVALID_CONTAINS", f'Username cannot contain "{word}"')
    return None


def _embeds_errors(embeds: object) -> dict | None:
    if not isinstance(embeds, list):
        return _error("BASE_TYPE_ARRAY", "Must be an array.")
    if len(embeds) > _EMBEDS_MAX:
        return _too_long(_EMBEDS_MAX)
    errors = {str(i): e for i, embed in enumerate(embeds) if (e := _embed_errors(embed))}
    if errors:
        return errors
    if sum(_embed_size(embed) for embed in embeds) > _EMBED_TOTAL_MAX:
        return _error("MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    return None


def _embed_errors(embed: object) -> dict | None:
    if not isinstance(embed, dict):
        return _error("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
    errors: dict = {}
    for key, limit in _EMBED_TEXT.items():
        value = embed.get(key)
        if isinstance(value, str) and len(value) > limit:
            errors[key] = _too_long(limit)
    fields = embed.get("fields")
    if isinstance(fields, list):
        if len(fields) > _FIELDS_MAX:
            errors["fields"] = _too_long(_FIELDS_MAX)
        else:
            field_errors = {str(i): e for i, f in enumerate(fields) if (e := _field_errors_of(f))}
            if field_errors:
                errors["fields"] = field_errors
    return errors or None


def _field_errors_of(field: object) -> dict | None:
    if not isinstance(field, dict):
        return _error("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
    errors: dict = {}
    for key, limit in _FIELD_TEXT.items():
        value = field.get(key)
        if not isinstance(value, str) or value == "":
            errors[key] = _error("BASE_TYPE_REQUIRED", "This field is required")
        elif len(value) > limit:
            errors[key] = _too_long(limit)
    return errors or None


def _embed_size(embed: dict) -> int:
    """Characters Discord counts toward the 6000 limit across a message's embeds."""
    size = sum(len(embed.get(key) or "") for key in ("title", "description"))
    size += len((embed.get("footer") or {}).get("text") or "")
    size += len((embed.get("author") or {}).get("name") or "")
    for field in embed.get("fields") or []:
        size += len(field.get("name") or "") + len(field.get("value") or "")
    return size
