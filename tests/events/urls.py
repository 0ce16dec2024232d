"""The project's URLs plus a probe endpoint that publishes, for tests of the HTTP path."""

from __future__ import annotations

from django.db import transaction
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.events.public import publish
from project.urls import urlpatterns as project_urlpatterns
from tests.events.probe import MODULE, ProbePinged


class ProbePingView(APIView):
    """`POST /api/probe/pings/ {"key"}`: a change that publishes, like a real endpoint."""

    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        with transaction.atomic(using=MODULE):
            envelope = publish(ProbePinged(key=str(request.data["key"])), source=MODULE)
        return Response({"message_id": str(envelope.message_id)}, status=202)


urlpatterns = [path("api/probe/pings/", ProbePingView.as_view()), *project_urlpatterns]
