"""The OpenAPI schema's shared parts: every operation's problem responses, and the
Idempotency-Key header of the creating POSTs.

Every 4xx the API can answer is an RFC 9457 problem document (`problems.py`).
Which ones an operation can answer follows from what it is, so they are added
here rather than by hand on each view:

- 401 unless the view lets anyone in (the token endpoint, health);
- 404 when the path names an object (someone else's object is 404 too), or
  the list is paged (a page past the last);
- 400, 413 and 415 when it reads a body; 400 when it reads filters;
- 403 and 409 on writes (staff-only writes; a session without its CSRF token;
  a state that does not allow it, a unique value taken);
- 422 when it takes an `Idempotency-Key` (the key reused for another body).
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from project.api.problems import PROBLEM_CONTENT_TYPE, problem_body

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "1 to 200 printable characters. The same key again (same user, same endpoint)"
        " answers with the first response and creates nothing; with another body, 422."
    ),
)


class ProblemOutput(serializers.Serializer):
    """An RFC 9457 problem document."""

    type = serializers.CharField(help_text="urn:boxoffice:problem:<code>")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable: see docs/api.md.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field errors by dotted path (lines.0.quantity).",
    )


_DESCRIPTIONS = {
    400: "Bad input: nothing was written.",
    401: "No credentials, or bad ones.",
    403: "Not allowed to this user.",
    404: "No such object (or page), or not this user's.",
    409: "The object's state, or data that exists already, does not allow it.",
    413: "The body is over the size limit.",
    415: "The body is not JSON.",
    422: "The Idempotency-Key was used with another body.",
}


def _example(status: int) -> dict:
    """A problem document as the API answers it, for `status`."""
    from rest_framework import exceptions

    from project.api.idempotency import IdempotencyKeyReused
    from project.api.problems import Conflict, PayloadTooLarge

    field_error = "Ensure this value is greater than or equal to 1."
    answers: dict[int, tuple[str, str, dict[str, list[str]] | None]] = {
        400: ("invalid", f"lines.0.quantity: {field_error}", {"lines.0.quantity": [field_error]}),
        401: ("not_authenticated", str(exceptions.NotAuthenticated.default_detail), None),
        403: ("permission_denied", str(exceptions.PermissionDenied.default_detail), None),
        404: ("not_found", str(exceptions.NotFound.default_detail), None),
        409: ("conflict", str(Conflict.default_detail), None),
        413: ("payload_too_large", str(PayloadTooLarge.default_detail), None),
        415: ("unsupported_media_type", str(exceptions.UnsupportedMediaType("text/plain").detail),
              None),
        422: ("idempotency_key_reused", str(IdempotencyKeyReused.default_detail), None),
    }  # fmt: skip
    code, detail, errors = answers[status]
    return problem_body(status_code=status, code=code, detail=detail, errors=errors)


_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _problem_response(status: int) -> OpenApiResponse:
    example = _example(status)
    return OpenApiResponse(
        response=ProblemOutput,
        description=_DESCRIPTIONS[status],
        examples=[OpenApiExample(example["code"], value=example, status_codes=[str(status)])],
    )


class ProblemAutoSchema(AutoSchema):
    """drf-spectacular's schema, with each operation's problem responses."""

    def problem_statuses(self) -> list[int]:
        statuses = []
        reads_body = self.method in {"POST", "PUT", "PATCH"} and self._get_request_body()
        if reads_body or getattr(self.view, "filterset_class", None):
            statuses.append(400)
        if not self._lets_anyone_in():
            statuses.append(401)
            if self.method in _WRITES:
                statuses.append(403)
        if "{" in self.path or (self._is_list_view() and self._get_paginator()):
            statuses.append(404)  # an object, or a page past the last
        if self.method in _WRITES and not self._lets_anyone_in():
            statuses.append(409)
        if reads_body:
            statuses += [413, 415]
        if any(
            isinstance(p, OpenApiParameter) and p.name == IDEMPOTENCY_KEY.name
            for p in self.get_override_parameters()
        ):
            statuses.append(422)
        return statuses

    def _lets_anyone_in(self) -> bool:
        return all(isinstance(p, AllowAny) for p in self.view.get_permissions())

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in self.problem_statuses():
            responses.setdefault(
                str(status),
                self._get_response_for_code(
                    _problem_response(status), str(status), [PROBLEM_CONTENT_TYPE], direction
                ),
            )
        return responses
