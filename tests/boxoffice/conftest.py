from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.ticketing import services as ticketing
from apps.ticketing.models import Performance


@pytest.fixture
def make_performance():
    """A performance at a venue with the given sections: {name: (rows, seats_per_row, price)}."""

    def make(sections: dict[str, tuple[int, int, str]] | None = None) -> Performance:
        sections = sections or {"Stalls": (2, 5, "20.00"), "Circle": (1, 4, "35.00")}
        venue = ticketing.venue_create(
            name="Apollo",
            city="London",
            sections=[
                ticketing.SectionInput(name=name, rows=rows, seats_per_row=per_row)
                for name, (rows, per_row, _) in sections.items()
            ],
        )
        show = ticketing.show_create(title="Hamlet")
        return ticketing.performance_create(
            show_id=show.id,
            venue_id=venue.id,
            starts_at=timezone.now() + timedelta(days=7),
            prices={name: Decimal(price) for name, (_, _, price) in sections.items()},
        )

    return make
