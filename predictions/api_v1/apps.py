"""App config of the public API: connects the webhook dispatch to the worker's task signals."""

from django.apps import AppConfig


class ApiV1Config(AppConfig):
    """The API has no models of its own (they live in predictions.models_api); it registers its task and signal."""

    name = "predictions.api_v1"
    label = "api_v1"
    verbose_name = "GEN_REC public API"

    def ready(self) -> None:
        """Import the webhook module so its Celery task exists in workers and its signal is connected."""
        from . import webhooks  # noqa: F401
