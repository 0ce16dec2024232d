from typing import IO, cast

from django.core.management.base import BaseCommand
from rich.console import Console
from rich.table import Table

from apps.events.selectors import outbox_backlogs, store_head, subscriber_statuses


class Command(BaseCommand):
    help = (
        "Outbox backlog per module; per subscriber its position, lag (positions behind the"
        " head) and waiting (messages past its position that it reads); parked messages."
    )

    def handle(self, *args, **options) -> None:
        console = Console(file=cast(IO[str], self.stdout), width=120)
        head = store_head()
        console.print(f"event store head: position {head}")

        outboxes = Table(title="Outboxes")
        for column in ("module", "pending", "oldest age (s)"):
            outboxes.add_column(column)
        for backlog in outbox_backlogs():
            age = backlog.oldest_age_seconds
            outboxes.add_row(
                backlog.module, str(backlog.pending), "-" if age is None else f"{age:.1f}"
            )
        console.print(outboxes)

        statuses = subscriber_statuses()
        table = Table(title="Subscribers")
        for column in (
            "subscriber", "module", "kind", "position", "lag", "waiting", "parked", "failing",
        ):  # fmt: skip
            table.add_column(column)
        for s in statuses:
            failing = (
                f"#{s.failing_position} x{s.attempts}: {s.last_error[:40]}"
                if s.failing_position
                else ""
            )
            table.add_row(
                s.name, s.module, s.kind, str(s.position), str(s.lag), str(s.waiting),
                str(s.parked), failing,
            )  # fmt: skip
        console.print(table)
        parked = sum(s.parked for s in statuses)
        console.print(f"parked messages: {parked}" + (" (retry_parked)" if parked else ""))
