from django.conf import settings
from django.core.management.base import BaseCommand

from project.provisioning import provision, territory_logins


class Command(BaseCommand):
    help = (
        "Create the database, one role and one schema per module (and `platform`), "
        "with no rights across them. Idempotent."
    )

    def handle(self, *args, **options) -> None:
        database = settings.DATABASE_OWNER["NAME"]
        provision(
            owner=settings.DATABASE_OWNER,
            database=database,
            logins=territory_logins(settings.DATABASES),
            log=lambda line: self.stdout.write(f"  {line}"),
        )
        self.stdout.write(self.style.SUCCESS(f"provisioned {database}"))
