from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.utils import timezone

from apps.ticketing import services
from apps.ticketing.models import Venue

SECTIONS = [("Stalls", 10, 20, "45.00"), ("Circle", 6, 16, "30.00"), ("Balcony", 4, 12, "15.00")]


class Command(BaseCommand):
    help = "A demo venue, a show and three performances. Safe to run twice."

    def handle(self, *args, **options) -> None:
        if Venue.objects.using("ticketing").filter(name="Old Vic").exists():
            return
        venue = services.venue_create(
            name="Old Vic",
            city="London",
            sections=[
                services.SectionInput(name, rows, per_row) for name, rows, per_row, _ in SECTIONS
            ],
        )
        show = services.show_create(title="Hamlet", description="The Prince of Denmark, again.")
        evening = timezone.now().replace(hour=19, minute=30, second=0, microsecond=0)
        for day in (1, 2, 3):
            services.performance_create(
                show_id=show.id,
                venue_id=venue.id,
                starts_at=evening + timedelta(days=day),
                prices={name: Decimal(price) for name, _, _, price in SECTIONS},
            )
        self.stdout.write("venue Old Vic, show Hamlet, three performances")
