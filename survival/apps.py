from django.apps import AppConfig


class SurvivalConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "survival"
