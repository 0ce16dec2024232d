"""Every 4xx from the API is an RFC 9457 problem document (`application/problem+json`).

    {"type", "title", "status", "detail", "code", "errors": {"field": ["message"]}}

`code` is a stable machine-readable name; `type` is the same as a URN.
Field errors of nested input are flattened to dotted paths (`lines.0.quantity`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import HttpRequest, JsonResponse
from pydantic import ValidationError as PydanticValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
NON_FIELD = "non_field_errors"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than this API accepts."
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


def _title(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Client Error" if status_code < 500 else "Server Error"


def problem_body(
    *, status_code: int, code: str, detail: str, errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:boxoffice:problem:{code}",
        "title": _title(status_code),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as `{"dotted.path": ["message", ...]}`."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in flatten_errors(value, path).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or NON_FIELD: [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            path = f"{prefix}.{index}" if prefix else str(index)
            for field, messages in flatten_errors(item, path).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    return {prefix or NON_FIELD: [str(detail)]}


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: DRF's own handling, re-shaped as problem+json."""
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not a client error: Django's handler500 answers
    if isinstance(exc, exceptions.ValidationError):
        errors = {
            field: messages for field, messages in flatten_errors(exc.detail).items() if messages
        }
        if len(errors) == 1:
            field, messages = next(iter(errors.items()))
            detail = f"{field}: {messages[0]}"
        else:
            detail = "The input is invalid: see `errors`."
        response.data = problem_body(
            status_code=response.status_code, code="invalid", detail=detail, errors=errors
        )
    elif isinstance(exc, exceptions.APIException):
        response.data = problem_body(
            status_code=response.status_code, code=_code_of(exc), detail=str(exc.detail)
        )
    else:  # Http404 and Django's PermissionDenied, which DRF maps itself
        code = "not_found" if response.status_code == 404 else "permission_denied"
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        response.data = problem_body(
            status_code=response.status_code, code=code, detail=str(detail)
        )
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _as_api_exception(exc: Exception) -> Exception:
    """Client errors raised below the API layer, as the API errors they are."""
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return exceptions.ValidationError(detail=detail)
    if isinstance(exc, PydanticValidationError):
        return exceptions.ValidationError(
            detail={".".join(map(str, e["loc"])) or NON_FIELD: [e["msg"]] for e in exc.errors()}
        )
    if isinstance(exc, IntegrityError):
        return Conflict("The request conflicts with data that already exists.")
    if isinstance(exc, DataError):
        # A value the database cannot hold (too long, too large) is bad input.
        return exceptions.ValidationError({NON_FIELD: ["A value is out of range or too long."]})
    return exc


def problem_json_response(*, status_code: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(
        problem_body(status_code=status_code, code=code, detail=detail),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")
