import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sendings import demo


class Command(BaseCommand):
    help = (
        "Load the demo data: the account 'Acme Marketing', its Spain and Mexico subaccounts, "
        "contact lists, the demo users and a sending in every status the help page describes. "
        "Idempotent: it only creates what is missing and never changes or deletes existing "
        "rows, so running it twice leaves exactly the same data (it does not reset a demo you "
        "have played with; `make reset-demo` recreates everything from scratch). "
        "Volume data for benchmarks is written by tests/bench/load.py."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DEBUG off. The demo users have published passwords "
            "(admin/admin-demo is a superuser): never on a site others can reach.",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError(
                "DEBUG is off: this looks like production, and the demo data includes a "
                "superuser whose password is published (admin/admin-demo). Refusing to seed; "
                "pass --allow-production if this really is a throwaway demo site."
            )
        started = time.monotonic()
        result = demo.demo_seed()
        elapsed = time.monotonic() - started
        if result.created:
            made = ", ".join(f"{what}: {count:,}" for what, count in result.created.items())
            self.stdout.write(f"Demo data created in {elapsed:.1f} s ({made}).")
        else:
            self.stdout.write("Demo data already present; nothing changed.")
        self._logins(result.account)
        note = demo.in_progress_note()
        if note:
            self.stdout.write("")
            self.stdout.write(note)

    def _logins(self, account) -> None:
        self.stdout.write("")
        self.stdout.write(f"Open {demo.URL}")
        self.stdout.write(f"Account: {account.name} (identifier {account.identifier})")
        self.stdout.write("")
        rows = [("user", "password", "what they can do")]
        rows += [(u.username, u.password, u.description) for u in demo.DEMO_USERS]
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        for number, (username, password, description) in enumerate(rows):
            self.stdout.write(f"  {username:<{widths[0]}}  {password:<{widths[1]}}  {description}")
            if number == 0:
                self.stdout.write(f"  {'-' * widths[0]}  {'-' * widths[1]}  {'-' * 16}")
        self.stdout.write("(Passwords are set when a user is created; seeding never resets them.)")
