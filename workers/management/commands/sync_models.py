"""``manage.py sync_models``: make the ModelVersion rows match the model folders under GENREC_MODELS_ROOT."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from predictions import selectors, services


class Command(BaseCommand):
    help = (
        "Register every model folder (a folder with manifest.json under GENREC_MODELS_ROOT, and GENREC_MODEL_DIR) "
        "as a model version; update changed ones; mark those whose folder is gone unavailable. Safe to repeat."
    )

    def handle(self, *args, **options) -> None:
        report = services.model_versions_sync()
        for label, names in (
            ("added", report.created),
            ("updated", report.updated),
            ("now unavailable", report.unavailable),
            ("removed", report.deleted),
        ):
            if names:
                self.stdout.write(f"{label}: {', '.join(names)}")
        default = selectors.model_version_default()
        available = ", ".join(version.name for version in selectors.model_versions_available()) or "none"
        self.stdout.write(
            self.style.SUCCESS(f"models: {available}; new jobs use {default.name if default else 'GENREC_MODEL_DIR'}")
        )
