from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import defaults

from project.api.problems import is_api_request, problem_json_response

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("project.api.urls")),
]


# Outside DRF views (an unknown /api/ URL, a body too large to read) the API
# still answers with problem+json; the admin keeps Django's HTML pages.
def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return problem_json_response(status_code=400, code="bad_request", detail=str(exception))
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return problem_json_response(
            status_code=403, code="permission_denied", detail="You may not do this."
        )
    return defaults.permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return problem_json_response(
            status_code=404, code="not_found", detail=f"No resource at {request.path}."
        )
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return problem_json_response(
            status_code=500, code="server_error", detail="An unexpected error occurred."
        )
    return defaults.server_error(request)
