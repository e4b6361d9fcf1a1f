from django.apps import AppConfig


class SendingsConfig(AppConfig):
    name = "sendings"
    verbose_name = "Sendings"

    def ready(self) -> None:
        # Services enqueue tasks by name; registering them here makes sure every process
        # (web, worker, shell) knows them, so eager mode and routing find them.
        # A signed-in user's language is read once, at login, into the session.
        from django.contrib.auth.signals import user_logged_in

        from sendings.contacts import tasks  # noqa: F401
        from sendings.tenancy.language import remember_on_login

        user_logged_in.connect(remember_on_login, dispatch_uid="sendings.remember_language")
