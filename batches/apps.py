from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Batches and delivery"

    def ready(self) -> None:
        # Services enqueue tasks by name; registering them here makes sure every process
        # (web, worker, shell) knows them, so eager mode and routing find them.
        from batches import tasks  # noqa: F401
