from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from apps.customers import services
from apps.customers.public.queries import customer_ids_visible_to

DEMO_PASSWORD = "boxoffice-demo"  # noqa: S105 - a local demo login, printed on purpose
CUSTOMERS = [
    ("ada", "Ada Lovelace", "EU", "150.00"),
    ("grace", "Grace Hopper", "US", "80.00"),
    ("alan", "Alan Turing", "EU", "20.00"),
]


class Command(BaseCommand):
    help = "Demo customers, each owned by a user of the same name. Safe to run twice."

    def handle(self, *args, **options) -> None:
        users = get_user_model().objects
        for username, name, region, limit in CUSTOMERS:
            user, created = users.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            if customer_ids_visible_to(user_id=user.pk):
                continue
            services.customer_register(
                name=name,
                email=f"{username}@example.com",
                region=region,
                credit_limit=Decimal(limit),
                owner=user,
            )
            self.stdout.write(f"customer {name}: log in as {username} / {DEMO_PASSWORD}")
