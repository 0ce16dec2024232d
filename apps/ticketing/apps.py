from django.apps import AppConfig


class TicketingConfig(AppConfig):
    name = "apps.ticketing"
    label = "ticketing"
    verbose_name = "Ticketing"
    default_auto_field = "django.db.models.BigAutoField"
