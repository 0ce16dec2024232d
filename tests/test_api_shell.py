"""The API shell: token auth, problem+json for every 4xx, health, schema and docs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connections
from django.test import Client
from django.test.testcases import DatabaseOperationForbidden
from rest_framework.exceptions import ValidationError as DRFValidationError

PROBLEM = "application/problem+json"
pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="correct horse battery")


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:boxoffice:problem:{code}"
    assert body["title"]
    assert body["detail"]
    return body


def post_json(client: Client, path: str, body: object, **headers: str):
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def test_a_user_logs_in_for_a_token_and_uses_it(client: Client, alice: User) -> None:
    response = post_json(
        client, "/api/auth/token/", {"username": "alice", "password": "correct horse battery"}
    )
    assert response.status_code == 200
    token = response.json()["token"]
    me = client.get("/api/me/", headers={"Authorization": f"Token {token}"})
    assert me.status_code == 200
    assert me.json() == {"id": alice.pk, "username": "alice", "is_staff": False}


def test_wrong_credentials_are_a_400_problem(client: Client, alice: User) -> None:
    response = post_json(client, "/api/auth/token/", {"username": "alice", "password": "nope"})
    body = assert_problem(response, 400, "invalid")
    assert "non_field_errors" in body["errors"]


def test_a_missing_field_names_the_field(client: Client) -> None:
    response = post_json(client, "/api/auth/token/", {"username": "alice"})
    body = assert_problem(response, 400, "invalid")
    assert body["errors"] == {"password": ["This field is required."]}


def test_anonymous_is_401_with_a_challenge(client: Client) -> None:
    response = client.get("/api/me/")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_a_bad_token_is_401(client: Client) -> None:
    response = client.get("/api/me/", headers={"Authorization": "Token not-a-token"})
    assert_problem(response, 401, "authentication_failed")


def test_malformed_json_is_a_400_problem(client: Client, alice: User) -> None:
    response = client.post(
        "/api/auth/token/", '{"username": "alice",', content_type="application/json"
    )
    assert_problem(response, 400, "parse_error")


def test_an_unsupported_media_type_is_415(client: Client) -> None:
    response = client.post("/api/auth/token/", "username=alice", content_type="text/plain")
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.django_db(databases=[])
def test_a_body_over_the_limit_is_413_and_reads_nothing(client: Client) -> None:
    """No alias is open to this test, so any read or write raises."""
    body = json.dumps({"username": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response = client.post("/api/auth/token/", body, content_type="application/json")
    assert_problem(response, 413, "payload_too_large")
    small = json.dumps({"username": "x", "password": "y"})
    with pytest.raises(DatabaseOperationForbidden):  # a body under the limit is read
        client.post("/api/auth/token/", small, content_type="application/json")


def test_a_1_megabyte_body_is_refused(client: Client, alice: User) -> None:
    client.force_login(alice)
    response = client.post("/api/auth/token/", "x" * 1_000_000, content_type="application/json")
    assert_problem(response, 413, "payload_too_large")


def test_an_unknown_api_url_is_a_404_problem(client: Client) -> None:
    assert_problem(client.get("/api/no-such-thing/"), 404, "not_found")


def test_a_wrong_method_is_405(client: Client, alice: User) -> None:
    client.force_login(alice)
    assert_problem(client.delete("/api/me/"), 405, "method_not_allowed")


def test_the_admin_keeps_html_errors(client: Client) -> None:
    response = client.get("/admin/no-such-page/")
    assert response["Content-Type"].startswith("text/html")


def test_the_schema_is_public_and_openapi_3(client: Client) -> None:
    response = client.get("/api/schema/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/auth/token/" in schema["paths"]
    assert "/api/health/" in schema["paths"]
    assert "/api/health/live/" in schema["paths"]


BODY, WRITE, OBJECT, PAGED = {400, 413, 415}, {401, 403}, {401, 404}, {401, 404}
KEYED = {409, 422}  # an Idempotency-Key caught by its purge (409), or reused (422)
# The problems each operation can answer, by hand: the schema must say exactly these
# (besides 405 and 406, which any operation answers to a wrong method or Accept).
DOCUMENTED_PROBLEMS = {
    ("POST", "/api/auth/token/"): BODY | WRITE,  # a bad token header: 401; no CSRF token: 403
    ("GET", "/api/health/"): set(),
    ("GET", "/api/health/live/"): set(),
    ("GET", "/api/me/"): {401},
    ("GET", "/api/customers/"): PAGED | {400},  # even its text filter refuses a NUL
    ("POST", "/api/customers/"): BODY | WRITE | KEYED,  # 409 too: an email taken meanwhile
    ("GET", "/api/customers/{id}/"): OBJECT,
    ("PATCH", "/api/customers/{id}/"): BODY | WRITE | OBJECT,
    ("GET", "/api/customers/{id}/orders/"): OBJECT,
    ("GET", "/api/orders/"): PAGED | {400},
    ("POST", "/api/orders/"): BODY | WRITE | KEYED | {404},  # 404: not the user's customer
    ("GET", "/api/orders/{id}/"): OBJECT,
    ("POST", "/api/orders/{id}/cancel/"): WRITE | OBJECT | {409},
    ("GET", "/api/orders/{id}/events/"): OBJECT,
    ("GET", "/api/bookings/"): PAGED | {400},
    ("POST", "/api/bookings/"): BODY | WRITE | KEYED | {404},
    ("GET", "/api/bookings/{id}/"): OBJECT,
    ("POST", "/api/bookings/{id}/cancel/"): WRITE | OBJECT | {409},
    ("GET", "/api/bookings/{id}/events/"): OBJECT,
    ("GET", "/api/venues/"): PAGED,
    ("POST", "/api/venues/"): BODY | WRITE | KEYED,
    ("GET", "/api/venues/{id}/"): OBJECT,
    ("GET", "/api/shows/"): PAGED,
    ("POST", "/api/shows/"): BODY | WRITE | KEYED,
    ("GET", "/api/shows/{id}/"): OBJECT,
    ("GET", "/api/performances/"): PAGED | {400},
    ("POST", "/api/performances/"): BODY | WRITE | KEYED,
    ("GET", "/api/performances/{id}/"): OBJECT,
    ("GET", "/api/performances/{id}/availability/"): OBJECT,
}


def schema_operations(client: Client) -> dict[tuple[str, str], dict]:
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
    return {
        (method.upper(), path): operation
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }


def test_every_operation_documents_exactly_the_problems_it_can_answer(client: Client) -> None:
    operations = schema_operations(client)
    assert set(operations) == set(DOCUMENTED_PROBLEMS)  # a new operation joins the table
    for (method, path), operation in operations.items():
        responses = operation["responses"]
        problems = {int(status) for status in responses if 400 <= int(status) < 500}
        assert problems == DOCUMENTED_PROBLEMS[(method, path)], (method, path)
        for status in problems:  # each a problem document, shown by example
            (content,) = responses[str(status)]["content"].items()
            assert content[0] == PROBLEM, (method, path, status)
            assert content[1]["schema"]["$ref"].endswith("/ProblemOutput")
            assert content[1]["examples"]
        if "requestBody" in operation:
            assert operation["requestBody"]["content"]["application/json"]["examples"]
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert ("Idempotency-Key" in headers) == (422 in problems), (method, path)
        # Whatever reads a database may find it unavailable: 503 (project/api/unavailable.py).
        unavailable = responses.get("503", {}).get("content", {})
        if path == "/api/health/":  # readiness answers 503 with its own report
            assert "application/json" in unavailable
        elif path == "/api/health/live/":
            assert not unavailable  # it reads no database
        else:
            assert PROBLEM in unavailable, (method, path)
    for path, status in (("/api/orders/", "202"), ("/api/customers/", "201")):
        answer = operations[("POST", path)]["responses"][status]["content"]["application/json"]
        assert answer["examples"], path  # what a created object looks like


def test_the_token_endpoint_refuses_a_bad_token_header_with_401(client: Client) -> None:
    response = client.post(
        "/api/auth/token/", {"username": "a", "password": "b"},
        content_type="application/json", headers={"Authorization": "Token not-a-token"},
    )  # fmt: skip
    assert_problem(response, 401, "authentication_failed")


def test_filters_refuse_what_they_cannot_take_with_400(client: Client) -> None:
    client.force_login(User.objects.create_user("staff", is_staff=True))
    assert client.get("/api/customers/", {"region": "%'\""}).status_code == 200
    assert_problem(client.get("/api/customers/", {"region": "a\x00b"}), 400, "invalid")
    assert_problem(client.get("/api/orders/", {"state": "NOPE"}), 400, "invalid")


def test_a_page_past_the_last_is_a_documented_404(client: Client) -> None:
    staff = User.objects.create_user("staff", is_staff=True)
    client.force_login(staff)
    assert_problem(client.get("/api/orders/", {"page": "999"}), 404, "not_found")


def test_the_docs_page_uses_assets_served_by_us(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_health_checks_every_alias_and_the_broker(client: Client) -> None:
    response = client.get("/api/health/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    expected = {f"database:{alias}" for alias in settings.DATABASES}
    expected |= {"broker", "outbox", "subscribers", "parked"}
    assert set(body["checks"]) == expected
    assert all(check["status"] == "ok" for check in body["checks"].values())


@pytest.fixture
def orders_database_down():
    """Point the orders alias at a port where no server listens."""
    connection = connections["orders"]
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    yield
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


def test_health_is_503_naming_a_database_that_is_down(
    client: Client, orders_database_down: None
) -> None:
    response = client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["database:orders"]
    assert body["checks"]["database:orders"]["status"] == "failing"
    assert body["checks"]["database:orders"]["detail"]
    assert body["checks"]["database:customers"]["status"] == "ok"


def test_health_is_503_naming_a_broker_that_is_down(client: Client, settings) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]


@pytest.fixture
def everything_down(settings) -> Iterator[None]:
    """Every alias pointed at a port where no server listens, and the broker too."""
    saved = {}
    for alias in settings.DATABASES:
        connection = connections[alias]
        saved[alias] = dict(connection.settings_dict)
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    yield
    for alias, settings_dict in saved.items():
        connection = connections[alias]
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(settings_dict)


def test_liveness_answers_with_every_database_and_the_broker_down(
    client: Client, everything_down: None
) -> None:
    readiness = client.get("/api/health/")
    assert readiness.status_code == 503  # so they really are down
    assert set(readiness.json()["failing"]) == {
        f"database:{alias}" for alias in settings.DATABASES
    } | {"broker"}
    response = client.get("/api/health/live/")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "alive"}


@pytest.mark.django_db(databases=[])
def test_liveness_touches_no_database() -> None:
    """No alias is open to this test, so any query raises: liveness answers
    anyway, anonymously, with no cookie set; readiness cannot."""
    response = Client().get("/api/health/live/")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "alive"}
    assert not response.cookies
    with pytest.raises(DatabaseOperationForbidden):
        Client().get("/api/health/")


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (DRFValidationError([]), 400, "invalid"),
        (DRFValidationError({"f": []}), 400, "invalid"),
        (DjangoValidationError("no"), 400, "invalid"),
        (IntegrityError("duplicate key"), 409, "conflict"),
    ],
    ids=["empty-list", "empty-field", "django-validation", "integrity"],
)
def test_client_errors_from_anywhere_become_problems(
    raised: Exception, status: int, code: str
) -> None:
    from project.api.problems import problem_exception_handler

    response = problem_exception_handler(raised, {})
    assert response is not None
    assert response.status_code == status
    assert response.data["code"] == code
    assert response.content_type == PROBLEM


def test_a_pydantic_error_names_its_fields() -> None:
    from pydantic import BaseModel, ValidationError

    from project.api.problems import problem_exception_handler

    class Line(BaseModel):
        quantity: int

    try:
        Line.model_validate({"quantity": "many"})
    except ValidationError as exc:
        response = problem_exception_handler(exc, {})
    assert response is not None
    assert response.status_code == 400
    assert "quantity" in response.data["errors"]


def test_an_unusual_status_code_still_gets_a_title() -> None:
    from rest_framework.exceptions import APIException

    from project.api.problems import problem_exception_handler

    class ClientClosed(APIException):
        status_code = 499
        default_code = "client_closed"

    response = problem_exception_handler(ClientClosed(), {})
    assert response is not None
    assert response.data["title"] == "Client Error"
    assert response.data["code"] == "client_closed"
