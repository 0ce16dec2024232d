from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from apps.events.public.subscriptions import subscribers
from apps.events.selectors import store_count_after
from apps.events.services import (
    DeliveryReport,
    ReplayRefused,
    subscriber_deliver,
    subscriber_rewind,
)


class RateColumn(ProgressColumn):
    """Events per second since the start."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0
        rate = task.completed / elapsed if elapsed > 0 else 0
        return Text(f"{rate:,.0f} events/s", style="cyan")


class Command(BaseCommand):
    help = (
        "Rebuild read models from the event store, through the same handlers as live "
        "delivery. Only projections (subscribers that publish nothing) can be replayed."
    )

    def add_arguments(self, parser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--subscriber", help="the projection to replay")
        which.add_argument("--all", action="store_true", help="every projection")
        parser.add_argument("--from-position", type=int, default=None, help="first position")
        parser.add_argument("--rebuild", action="store_true", help="reset the read model first")
        parser.add_argument("--dry-run", action="store_true", help="say what would happen")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, **options) -> None:
        console = Console(file=self.stdout, width=120)
        if options["all"]:
            names = [s.name for s in subscribers.all() if s.is_projection]
            for s in subscribers.all():
                if not s.is_projection:
                    console.print(f"skipping {s.name}: it publishes messages")
        else:
            names = [options["subscriber"]]
        for name in names:
            self.replay(console, name, options)

    def replay(self, console: Console, name: str, options: dict) -> None:
        try:
            subscriber = subscribers.get(name)
        except KeyError as exc:
            raise CommandError(str(exc.args[0])) from exc
        if subscriber.publishes:
            raise CommandError(str(ReplayRefused(f"refusing to replay {name}: it publishes")))
        start = options["from_position"] or 1
        total = store_count_after(position=start - 1, types=subscriber.types())
        action = "rebuild" if options["rebuild"] else "replay"
        if options["dry_run"]:
            console.print(
                f"would {action} {name} ({subscriber.module}) from position {start}:"
                f" {total} events to apply"
                + (", read model reset first" if options["rebuild"] else "")
            )
            return
        if not options["rebuild"] and options["from_position"] is None:
            console.print(f"{name}: catching up from its checkpoint (use --rebuild to start over)")
        else:
            subscriber_rewind(name=name, from_position=start, rebuild=options["rebuild"])
        columns = (
            TextColumn(f"{action} {name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(action, total=total)

            def advance(report: DeliveryReport) -> None:
                progress.advance(task, report.handled + report.parked)

            result = subscriber_deliver(
                name=name, batch_size=options["batch_size"], wait=True, progress=advance
            )
            progress.update(task, completed=total)
        elapsed = progress.tasks[0].elapsed or 0
        rate = result.handled / elapsed if elapsed else 0
        console.print(
            f"{name}: applied {result.handled} events up to position {result.position}"
            f" ({rate:,.0f} events/s), parked {result.parked}"
        )
        if result.waiting:
            raise CommandError(f"{name} is stuck on a failing message: see events_status")
