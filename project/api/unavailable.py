"""A database that cannot answer in time is a 503 with Retry-After, never a 500.

A connection the server refuses (too many clients, a restart), one that takes
longer than `connect_timeout`, a statement cancelled by `statement_timeout` or
a lock not had within `lock_timeout`: Django raises each as OperationalError.
The API answers problem+json, the admin a short page; the client tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse

from project.api.problems import is_api_request, problem_json_response

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 2
DATABASE_UNAVAILABLE = "The service is busy or a database is unavailable; try again shortly."


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError):
            return None
        logger.warning("%s %s: database unavailable: %s", request.method, request.path, exception)
        response: HttpResponse
        if is_api_request(request):
            response = problem_json_response(
                status_code=503, code="service_unavailable", detail=DATABASE_UNAVAILABLE
            )
        else:
            response = HttpResponse(
                DATABASE_UNAVAILABLE, status=503, content_type="text/plain; charset=utf-8"
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
