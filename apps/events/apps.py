from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"
    verbose_name = "Events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Load every module's messages and subscriptions, by name: registering a
        # second handler for a command fails here, at start-up.
        autodiscover_modules("public")
        autodiscover_modules("handlers")
