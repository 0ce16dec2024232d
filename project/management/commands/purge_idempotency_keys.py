from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from project.api.idempotency import idempotency_keys_purge, idempotency_records


class Command(BaseCommand):
    help = (
        "Delete every module's Idempotency-Keys older than their retention "
        "(IDEMPOTENCY_KEY_RETENTION_SECONDS, a day); the workers do it hourly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-hours",
            type=float,
            default=None,
            help="instead of the retention setting",
        )

    def handle(self, *args: object, older_than_hours: float | None, **options: object) -> None:
        if older_than_hours is not None and older_than_hours < 0:
            raise CommandError("--older-than-hours cannot be negative.")
        seconds = (
            settings.IDEMPOTENCY_KEY_RETENTION_SECONDS
            if older_than_hours is None
            else older_than_hours * 3600
        )
        for module in sorted(idempotency_records()):
            purged = idempotency_keys_purge(module=module, older_than=timedelta(seconds=seconds))
            self.stdout.write(f"{module}: {purged} idempotency keys purged")
