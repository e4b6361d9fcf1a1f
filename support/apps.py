from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        # The core cannot import support: support hooks into it. A sending that finishes
        # closes its open ticket in the same transaction.
        from sendings.transitions import on_sending_finished
        from support import notifications
        from support.services import tickets_close_on_finish

        on_sending_finished(tickets_close_on_finish)
        # The outbox (below us) learns here how to render the emails tickets owe.
        notifications.register()
