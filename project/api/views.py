"""Endpoints of the API shell: token login and health."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from project.health import run_checks


class TokenObtainView(ObtainAuthToken):
    """`POST /api/auth/token/`: a username and password for an API token."""

    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="auth_token_obtain",
        request=AuthTokenSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
        examples=[
            OpenApiExample(
                "Log in", value={"username": "alice", "password": "s3cret!"}, request_only=True
            ),
            OpenApiExample("Token", value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"}),
        ],
        tags=["auth"],
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().post(request, *args, **kwargs)


class HealthCheckSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "failing"])
    latency_ms = serializers.FloatField()
    detail = serializers.CharField(required=False)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    checks = serializers.DictField(child=HealthCheckSerializer())
    failing = serializers.ListField(child=serializers.CharField(), required=False)


class LivenessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["alive"])


class LivenessView(APIView):
    """Liveness: the process answers requests. It touches no database, broker or
    session, so a restart is never triggered by something a restart cannot fix."""

    uses_no_database = True  # so it never answers 503 (project/api/schema.py)
    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="health_live",
        responses={200: LivenessSerializer},
        examples=[OpenApiExample("Alive", value={"status": "alive"})],
        tags=["operations"],
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "alive"})


class HealthView(APIView):
    """Readiness: every database alias (as its own role), the broker, the outboxes,
    the subscribers' backlogs and the parked messages."""

    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="health",
        responses={200: HealthSerializer, 503: HealthSerializer},
        tags=["operations"],
    )
    def get(self, request: Request) -> Response:
        results = run_checks()
        checks = {}
        for result in results:
            entry: dict[str, object] = {
                "status": "ok" if result.ok else "failing",
                "latency_ms": result.latency_ms,
            }
            if result.detail:
                entry["detail"] = result.detail
            checks[result.name] = entry
        failing = [r.name for r in results if not r.ok]
        body: dict[str, object] = {"status": "unavailable" if failing else "ok", "checks": checks}
        if failing:
            body["failing"] = failing
        code = status.HTTP_503_SERVICE_UNAVAILABLE if failing else status.HTTP_200_OK
        return Response(body, status=code)


class MeView(APIView):
    """`GET /api/me/`: who the request is authenticated as."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        is_staff = serializers.BooleanField()

    @extend_schema(operation_id="me", responses={200: OutputSerializer}, tags=["auth"])
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(request.user).data)
