from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        # The core cannot import support: support hooks into it. A sending that finishes
        # closes its open tickets in the same transaction.
        from sendings.transitions import on_batch_paused, on_sending_finished
        from support import notifications
        from support.services import ticket_open_on_pause, tickets_close_on_finish

        on_sending_finished(tickets_close_on_finish)
        # A batch the platform pauses (too many failures) opens a ticket in that transaction.
        on_batch_paused(ticket_open_on_pause)
        # The outbox (below us) learns here how to render the emails tickets owe.
        notifications.register()
