from django.apps import AppConfig


class FinesConfig(AppConfig):
    name = "fines"
    verbose_name = "Fines and fees"

    def ready(self):
        from fines import debt
        from patrons import system_blocks

        system_blocks.register(debt.PROVIDER)
