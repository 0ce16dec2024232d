from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from project.provisioning import sessions_without_limits


class Command(BaseCommand):
    help = "Apply migrations on every database alias (`migrate` alone only does `default`)."

    def handle(self, *args, **options) -> None:
        # Without the roles' statement, lock and idle-in-transaction timeouts: a
        # migration (an index built concurrently, a table rewritten) must not be
        # cut halfway by limits meant for requests and tasks (docs/operations.md).
        with sessions_without_limits(settings.DATABASES):
            # `default` first: content types and permissions for every app are created there.
            for alias in settings.DATABASES:
                self.stdout.write(f"migrating {alias}")
                call_command(
                    "migrate",
                    database=alias,
                    interactive=False,
                    verbosity=max(options["verbosity"] - 1, 0),
                    stdout=self.stdout,
                )
        self.stdout.write(self.style.SUCCESS("all aliases migrated"))
