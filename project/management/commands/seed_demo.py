from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "A small store and box office to try things on. Safe to run twice."

    def handle(self, *args, **options) -> None:
        # Each module seeds its own data, named here, never imported.
        for command in ("seed_customers", "seed_orders", "seed_ticketing"):
            call_command(command, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("demo data ready; the worker decides the orders"))
