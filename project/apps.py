from django.apps import AppConfig
from django.conf import settings


class PlatformConfig(AppConfig):
    """Django's side of the house: accounts, object grants and operations commands.

    Its tables live in the `platform` schema behind the `default` alias.
    """

    name = "project"
    label = "platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        from project import bulk  # noqa: F401 - registers the `__any` lookup

        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            from project.broker import make_folders

            make_folders(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
