"""App config for workers (management commands and Celery tasks)."""

from django.apps import AppConfig


class WorkersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "workers"
    verbose_name = "GEN_REC workers"
