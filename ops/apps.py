from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations and account security: backups, restores and the security log."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import checks, signals  # noqa: F401 - checks register themselves on import

        signals.connect()
