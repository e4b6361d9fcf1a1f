import time

from django.core.management.base import BaseCommand, CommandError

from sendings import demo


class Command(BaseCommand):
    help = (
        "Load the demo data: the account 'Acme Marketing', its Spain and Mexico subaccounts, "
        "contact lists, the demo users and a sending in every status the help page describes. "
        "Idempotent: it only creates what is missing and never changes or deletes existing "
        "rows, so running it twice leaves exactly the same data (it does not reset a demo you "
        "have played with; `make reset-demo` recreates everything from scratch). "
        "--contacts and --sendings add load data for benchmarks in a separate subaccount; "
        "they are additive: every run adds that many more."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--contacts",
            type=int,
            default=0,
            metavar="N",
            help=f"Add N contacts to the list '{demo.LOAD_LIST}' of the load subaccount.",
        )
        parser.add_argument(
            "--sendings",
            type=int,
            default=0,
            metavar="N",
            help="Add N sendings of 3 batches to the load subaccount, mostly sent, some "
            "scheduled or canceled, a few sending, spread over the past year.",
        )
        parser.add_argument(
            "--subaccount",
            default=demo.LOAD_SUBACCOUNT,
            metavar="NAME",
            help=f"Load subaccount name (default: '{demo.LOAD_SUBACCOUNT}').",
        )

    def handle(self, *args, contacts: int, sendings: int, subaccount: str, **options):
        if contacts < 0 or sendings < 0:
            raise CommandError("--contacts and --sendings take a number of 0 or more.")
        started = time.monotonic()
        result = demo.demo_seed()
        elapsed = time.monotonic() - started
        if result.created:
            made = ", ".join(f"{what}: {count:,}" for what, count in result.created.items())
            self.stdout.write(f"Demo data created in {elapsed:.1f} s ({made}).")
        else:
            self.stdout.write("Demo data already present; nothing changed.")

        load = demo.load_subaccount(subaccount) if contacts or sendings else None
        if contacts:
            started = time.monotonic()
            demo.load_contacts(subaccount=load, count=contacts)
            elapsed = time.monotonic() - started
            self.stdout.write(
                f"Load data: {contacts:,} contacts added to '{demo.LOAD_LIST}' in "
                f"'{load.name}' in {elapsed:.1f} s ({contacts / max(elapsed, 1e-6):,.0f}/s)."
            )
        if sendings:
            started = time.monotonic()
            statuses = demo.load_sendings(subaccount=load, count=sendings)
            elapsed = time.monotonic() - started
            mix = ", ".join(f"{count:,} {status}" for status, count in statuses.most_common())
            self.stdout.write(
                f"Load data: {sendings:,} sendings ({mix}) added to '{load.name}' in "
                f"{elapsed:.1f} s ({sendings / max(elapsed, 1e-6):,.0f}/s)."
            )
        self._logins(result.account)

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
