"""``manage.py compare_models``: put the models side by side in one model's report (held-out faces and clips)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workers.pipeline.comparison import ComparisonError, read_clips, write_comparison
from workers.pipeline.model import MANIFEST_FILE, ModelIntegrityError, model_folders, models_root, read_manifest


class Command(BaseCommand):
    help = (
        "Write a 'Models side by side' section into a model's report/report.md: every model's held-out figures per "
        "race, and, given bench/tracks.py's JSON, their figures on the shared clips."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("report_model", type=Path, help="the model folder whose report gets the section")
        parser.add_argument(
            "--models", type=Path, nargs="+", help="model folders to compare, in this order (default: all installed)"
        )
        parser.add_argument("--clips", type=Path, help="bench/tracks.py --compare … --json output")

    def handle(self, *args, **options) -> None:
        folders = options["models"] or model_folders(models_root())
        report = options["report_model"] / "report" / "report.md"
        if not report.is_file():
            raise CommandError(f"{report} does not exist: train the model (manage.py train_model) first")
        missing = [str(folder) for folder in folders if not (folder / MANIFEST_FILE).is_file()]
        if missing:
            raise CommandError(f"not model folders (no {MANIFEST_FILE}): {', '.join(missing)}")
        try:
            manifests = [read_manifest(folder) for folder in folders]
            section = write_comparison(report, manifests, read_clips(options["clips"]))
        except (ComparisonError, ModelIntegrityError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(section)
        self.stdout.write(self.style.SUCCESS(f"wrote the comparison of {len(manifests)} models into {report}"))
