from pathlib import Path

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

        # The filesystem broker needs its folders before the first message.
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
                Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key])).mkdir(
                    parents=True, exist_ok=True
                )
