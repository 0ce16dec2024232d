from django.core.management.base import BaseCommand, CommandError

from apps.events.services import parked_retry


class Command(BaseCommand):
    help = "Apply parked messages again (all, one subscriber's, or by id)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--subscriber", help="only this subscriber's parked messages")
        parser.add_argument("--module", help="only this module's parked messages")
        parser.add_argument(
            "--id", type=int, action="append", dest="ids", help="parked row id (with --module)"
        )

    def handle(self, *args, **options) -> None:
        if options["ids"] and not options["module"]:
            raise CommandError("--id needs --module: parked ids are per module")
        report = parked_retry(
            module=options["module"], subscriber=options["subscriber"], ids=options["ids"]
        )
        self.stdout.write(f"applied {report.applied}, still failing {report.failed}")
