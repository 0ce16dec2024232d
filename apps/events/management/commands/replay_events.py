from typing import IO, cast

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
from apps.events.selectors import EVENTS_ALIAS, store_count_after, store_head, subscriber_status
from apps.events.services import (
    DeliveryReport,
    ReplayRefused,
    subscriber_deliver,
    subscriber_rewind,
)
from project.provisioning import sessions_without_limits


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
        parser.add_argument(
            "--from-position",
            type=int,
            default=None,
            help="rebuild from this position (the projection must declare reset_from)",
        )
        parser.add_argument(
            "--rebuild", action="store_true", help="reset the read model and rebuild it"
        )
        parser.add_argument("--dry-run", action="store_true", help="say what would happen")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, **options) -> None:
        console = Console(file=cast(IO[str], self.stdout), width=120)
        if options["all"]:
            names = [s.name for s in subscribers.all() if s.is_projection]
            for s in subscribers.all():
                if not s.is_projection:
                    console.print(f"skipping {s.name}: it publishes messages")
        else:
            names = [options["subscriber"]]
        # Without the roles' session limits: a reset may delete a whole read model
        # in one statement, and the rebuild waits for a live delivery to let go of
        # the subscriber however long it takes (docs/operations.md, "Time limits").
        # Only the databases the replay reads and writes: on a host that runs one
        # module, the others are not reachable.
        known = {s.name: s.module for s in subscribers.all()}
        aliases = sorted({known[name] for name in names if name in known} | {EVENTS_ALIAS})
        with sessions_without_limits(aliases):
            for name in names:
                self.replay(console, name, options)

    def replay(self, console: Console, name: str, options: dict) -> None:
        try:
            subscriber = subscribers.get(name)
        except KeyError as exc:
            raise CommandError(str(exc.args[0])) from exc
        if subscriber.publishes:
            raise CommandError(
                f"refusing to replay {name}: it publishes messages (a saga step or reaction),"
                " and replaying it would send them again"
            )
        rebuild = options["rebuild"] or options["from_position"] is not None
        start = options["from_position"] or 1
        if start > 1 and subscriber.reset_from is None:
            raise CommandError(
                f"{name} cannot be rebuilt from position {start}: it declares no reset_from;"
                " use --rebuild alone to rebuild it from the start"
            )
        after = start - 1 if rebuild else subscriber_status(subscriber, store_head()).position
        total = store_count_after(
            position=after, types=subscriber.types(), skip_unset=subscriber.skips_unset()
        )
        action = "rebuild" if rebuild else "catch up"
        if options["dry_run"]:
            undo = "read model reset" if start == 1 else f"what positions {start}+ built removed"
            console.print(
                f"would {action} {name} ({subscriber.module}) from position {after + 1}:"
                f" {total} events to apply" + (f", {undo} first" if rebuild else "")
            )
            return
        if rebuild:
            try:
                subscriber_rewind(name=name, from_position=start)
            except ReplayRefused as exc:
                raise CommandError(str(exc)) from exc
        else:
            console.print(f"{name}: catching up from its checkpoint (--rebuild starts over)")
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
