from django.apps import AppConfig


class SendingsConfig(AppConfig):
    name = "sendings"
    verbose_name = "Sendings"
