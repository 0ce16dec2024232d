import time

from django.core.management.base import BaseCommand

from apps.events.services import outboxes_relay_all, subscribers_deliver_all


class Command(BaseCommand):
    help = (
        "Move outbox messages into the event store and deliver them to subscribers. "
        "Runs until stopped, or once with --once. Safe to run beside the Celery relay."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass until quiet, then exit")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between idle passes"
        )

    def handle(self, *args, **options) -> None:
        while True:
            relayed = handled = parked = 0
            while True:  # until a pass moves nothing
                moved = outboxes_relay_all()
                reports = subscribers_deliver_all()
                relayed += moved
                handled += sum(r.handled for r in reports)
                parked += sum(r.parked for r in reports)
                if moved == 0 and not any(r.handled for r in reports):
                    break
            if relayed or handled or options["once"]:
                self.stdout.write(f"relayed {relayed}, handled {handled}, parked {parked}")
            if options["once"]:
                return
            time.sleep(options["interval"])
