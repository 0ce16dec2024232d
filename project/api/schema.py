"""The OpenAPI schema's shared parts: every operation's problem responses, and the
Idempotency-Key header of the creating POSTs.

Every 4xx the API can answer is an RFC 9457 problem document (`problems.py`).
Those that follow from what an operation is are added here, not by hand on
each view:

- 401 when the view authenticates (a bad token is refused even where anyone
  may enter, such as the token endpoint);
- 404 when the path names an object (someone else's object is 404 too), or
  the list is paged (a page past the last);
- 400, 413 and 415 when it reads a body; 400 when a filter can refuse a value;
- 403 on writes (staff-only writes, a session without its CSRF token);
- 409 and 422 when it takes an `Idempotency-Key` (the key caught by its
  purge; the key reused for another body).

The rest are the view's to declare, with `problems(...)` in its
`extend_schema(responses=...)`: a 409 where a state or a unique value can
refuse the write, a 404 for an object named in the body.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from project.api.problems import PROBLEM_CONTENT_TYPE, problem_body

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "1 to 200 printable characters. The same key again (same user, same endpoint)"
        " answers with the first response and creates nothing; with another body, 422."
        " A key is kept a day (IDEMPOTENCY_KEY_RETENTION_SECONDS); after that it is new."
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
    503: "A database is busy or unavailable; retry after Retry-After (a creating POST with "
    "its Idempotency-Key, so that it is never applied twice).",
}


def _example(status: int) -> dict:
    """A problem document as the API answers it, for `status`."""
    from rest_framework import exceptions

    from project.api.idempotency import IdempotencyKeyReused
    from project.api.problems import Conflict, PayloadTooLarge
    from project.api.unavailable import DATABASE_UNAVAILABLE

    answers: dict[int, tuple[str, str, dict[str, list[str]] | None]] = {
        400: ("invalid", "The input is not valid.", None),  # made per operation: _problem_for
        401: ("not_authenticated", str(exceptions.NotAuthenticated.default_detail), None),
        403: ("permission_denied", str(exceptions.PermissionDenied.default_detail), None),
        404: ("not_found", str(exceptions.NotFound.default_detail), None),
        409: ("conflict", str(Conflict.default_detail), None),
        413: ("payload_too_large", str(PayloadTooLarge.default_detail), None),
        415: ("unsupported_media_type", str(exceptions.UnsupportedMediaType("text/plain").detail),
              None),
        422: ("idempotency_key_reused", str(IdempotencyKeyReused.default_detail), None),
        503: ("service_unavailable", DATABASE_UNAVAILABLE, None),
    }  # fmt: skip
    code, detail, errors = answers[status]
    return problem_body(status_code=status, code=code, detail=detail, errors=errors)


_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _problem_response(status: int, description: str | None = None, **example: object) -> object:
    body = {**_example(status), **example}  # a field error's example says which field
    return OpenApiResponse(
        response=ProblemOutput,
        description=description or _DESCRIPTIONS[status],
        examples=[OpenApiExample(str(body["code"]), value=body, status_codes=[str(status)])],
    )


def problems(described: dict[int, tuple[str, str]]) -> dict[tuple[int, str], object]:
    """Problem responses a view declares itself: by status, what it means there
    and the `detail` the view really answers with, for the example:

        extend_schema(responses={202: Out, **problems({409: ("When ...", "The ...")})})

    Not on a list view: drf-spectacular tells a list view by its first
    response's code, and a `(409, media type)` key sorts before "200".
    """
    return {
        (status, PROBLEM_CONTENT_TYPE): _problem_response(status, description, detail=detail)
        for status, (description, detail) in described.items()
    }


# A body naming a customer that is not the (non-staff) user's, as the order and
# booking POSTs answer it. Staff may name any id: the saga rejects an unknown one.
NOT_THE_USERS_CUSTOMER = {404: ("Not one of this user's customers.", "No such customer.")}


class ProblemAutoSchema(AutoSchema):
    """drf-spectacular's schema, with each operation's problem responses."""

    def problem_statuses(self) -> list[int]:
        reads_body = self.method in {"POST", "PUT", "PATCH"} and bool(self._get_request_body())
        statuses = []
        if reads_body or self._filters():
            statuses.append(400)
        if self.view.get_authenticators():
            statuses.append(401)
        if self.method in _WRITES:
            statuses.append(403)
        if "{" in self.path or (self._is_list_view() and self._get_paginator()):
            statuses.append(404)  # an object, or a page past the last
        if reads_body:
            statuses += [413, 415]
        if any(
            isinstance(p, OpenApiParameter) and p.name == IDEMPOTENCY_KEY.name
            for p in self.get_override_parameters()
        ):
            statuses += [409, 422]  # 409: the key was being purged (send it again)
        if not getattr(self.view, "uses_no_database", False):
            statuses.append(503)
        return sorted(statuses)

    def _filters(self) -> dict:
        """The operation's filters: each can refuse a value (even a text one
        refuses a NUL character)."""
        filterset = getattr(self.view, "filterset_class", None)
        return dict(filterset.base_filters) if filterset and self.method == "GET" else {}

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in self.problem_statuses():
            responses.setdefault(
                str(status),
                self._get_response_for_code(
                    self._problem_for(status), str(status), [PROBLEM_CONTENT_TYPE], direction
                ),
            )
        return responses

    def _problem_for(self, status: int) -> object:
        if status == 409:  # added for an Idempotency-Key only; a view declares its others
            from project.api.idempotency import IdempotencyKeyBusy

            return _problem_response(
                status, "The Idempotency-Key was being purged (past its retention): send again.",
                detail=str(IdempotencyKeyBusy.default_detail),
            )  # fmt: skip
        if status != 400:
            return _problem_response(status)
        # The example names one of this operation's own fields or filters, with
        # the message that field would answer.
        if self.method == "GET":
            name, a_filter = next(iter(self._filters().items()))
            message = _refusal(a_filter.field.error_messages)
            return _problem_response(
                status, "A filter's value is not valid.",
                detail=f"{name}: {message}", errors={name: [message]},
            )  # fmt: skip
        else:
            fields = force_instance(self.get_request_serializer()).fields
            name = next((n for n, f in fields.items() if f.required), next(iter(fields)))
            field = fields[name]
            message = (
                field.error_messages["required"]
                if field.required
                else _refusal(field.error_messages)
            )
        return _problem_response(status, detail=f"{name}: {message}", errors={name: [message]})


def _refusal(messages: dict) -> str:
    """How a field says a value is wrong, with a value filled in."""
    for key in ("invalid", "invalid_choice"):
        if key in messages:
            return str(messages[key]) % {"value": "NOPE"}
    return "Null characters are not allowed."  # a text field's only refusal
