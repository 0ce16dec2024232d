from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from apps.customers.public.queries import customer_ids_visible_to
from apps.orders import services
from apps.orders.models import Order

ORDERS = [
    ("ada", [("BOOK-ENGINES", 1, "42.00"), ("PEN-7", 3, "1.50")]),
    ("grace", [("COBOL-GUIDE", 2, "30.00")]),
    ("alan", [("ENIGMA-KIT", 1, "99.00")]),  # over his limit: rejected
]


class Command(BaseCommand):
    help = "Demo orders for the demo customers (seed_customers first). Safe to run twice."

    def handle(self, *args, **options) -> None:
        users = get_user_model().objects
        for username, lines in ORDERS:
            user = users.filter(username=username).first()
            customer_ids = customer_ids_visible_to(user_id=user.pk) if user else frozenset()
            if not customer_ids:
                continue
            customer_id = min(customer_ids)
            if Order.objects.using("orders").filter(customer_id=customer_id).exists():
                continue
            services.order_place(
                customer_id=customer_id,
                lines=[services.LineInput(sku, qty, Decimal(price)) for sku, qty, price in lines],
            )
            self.stdout.write(f"order for {username}")
