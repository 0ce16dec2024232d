from django.conf import settings
from django.core.management.base import BaseCommand

from project.provisioning import provision_servers


class Command(BaseCommand):
    help = (
        "Create the database, one role and one schema per module (and `platform`), on "
        "each server for what it hosts, "
        "with no rights across them. Idempotent."
    )

    def handle(self, *args, **options) -> None:
        # Each server gets only what it hosts (a module moved out: docs/splitting-out.md).
        for done in provision_servers(
            owners=settings.DATABASE_OWNERS,
            databases=settings.DATABASES,
            log=lambda line: self.stdout.write(f"  {line}"),
        ):
            self.stdout.write(self.style.SUCCESS(f"provisioned {done}"))
