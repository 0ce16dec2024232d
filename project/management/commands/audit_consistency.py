"""`manage.py audit_consistency`: every module's invariants, checked.

Each module declares the rules it owns in its `invariants.py`
(project/invariants.py); this command only runs them, prints every breach and
exits non-zero if there is any. The rules read other modules only through their
`public` queries, so the audit works the same when modules live on different
database servers.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from project.invariants import AuditWindow, invariants


class Command(BaseCommand):
    help = (
        "Check every module's invariants (seats held or sold at most once, sold seats ="
        " issued tickets, every confirmed booking has an approved order, reservations"
        " within limits and in step with each customer's total, no saga stuck, ...)."
        " Non-zero exit on any breach."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stuck-after",
            type=float,
            default=300.0,
            help="seconds without progress after which an unfinished booking counts as stuck",
        )
        parser.add_argument(
            "--settle-seconds",
            type=float,
            default=60.0,
            help=(
                "a booking changed more recently than this may still have messages in"
                " flight (a release, a cancel): its cross-module checks wait"
            ),
        )

    def handle(self, *args: object, stuck_after: float, settle_seconds: float, **_: object) -> None:
        now = timezone.now()
        window = AuditWindow(
            stuck_before=now - timedelta(seconds=stuck_after),
            settled_before=now - timedelta(seconds=settle_seconds),
        )
        breaches = 0
        for declared in invariants():
            for breach in declared.check(window):
                breaches += 1
                self.stdout.write(self.style.ERROR(f"BREACH [{declared.name}] {breach}"))
        if breaches:
            raise CommandError(f"{breaches} breach(es) of consistency")
        self.stdout.write(self.style.SUCCESS("consistent: every invariant holds"))
