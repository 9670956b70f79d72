from django.apps import AppConfig


class DosingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dosing"
