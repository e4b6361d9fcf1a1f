from django.apps import AppConfig


class SendingsConfig(AppConfig):
    name = "sendings"
    verbose_name = "Sendings"

    def ready(self) -> None:
        # Services enqueue tasks by name; registering them here makes sure every process
        # (web, worker, shell) knows them, so eager mode and routing find them.
        from sendings.contacts import tasks  # noqa: F401
