"""``manage.py train_model``: train the eigenface SVM on a labelled face folder and write model, manifest, report."""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workers.pipeline.datasets import DatasetError, read_dataset
from workers.pipeline.face_extraction import TRAINING_PAD, TRAINING_PAD_MODE
from workers.pipeline.model import REPO_ROOT
from workers.pipeline.training import GRIDS, TrainingOptions, train_and_save


class Command(BaseCommand):
    help = "Train the gender model (PCA eigenfaces -> calibrated SVM) and write model.joblib, manifest.json, report/."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="image folder, or a labels CSV")
        parser.add_argument("--labels", type=Path, help="CSV with path,gender[,race,age,group]; paths under --data")
        parser.add_argument("--grid", choices=sorted(GRIDS), default="study")
        parser.add_argument("--out", type=Path, default=Path("models/default"), help="model folder to write")
        parser.add_argument("--min-age", type=int, help="train only on faces of at least this age")
        parser.add_argument("--components", type=int, default=50, help="number of eigenfaces")
        parser.add_argument("--whiten", action="store_true", help="whiten the PCA components")
        parser.add_argument(
            "--balance",
            choices=["none", "class", "group"],
            default="none",
            help="sample weights: equal total weight per gender, or per gender x race",
        )
        parser.add_argument("--flip", action="store_true", help="add mirrored training faces")
        parser.add_argument(
            "--search-samples",
            type=int,
            default=3000,
            help="grid search on a stratified subsample of this many faces (0 = all)",
        )
        parser.add_argument("--max-records", type=int, help="use a stratified subset of the data (quick runs)")
        parser.add_argument("--pad", type=int, default=TRAINING_PAD, help="border added before Haar detection")
        parser.add_argument("--pad-mode", choices=["replicate", "constant"], default=TRAINING_PAD_MODE)
        parser.add_argument(
            "--notes", type=Path, help="markdown file included in the report as 'What was tried' (read at the end)"
        )

    def handle(self, *args, **options) -> None:
        logging.basicConfig(level=logging.INFO if options["verbosity"] > 1 else logging.WARNING)
        try:
            records = read_dataset(options["data"], options["labels"])
        except (DatasetError, OSError) as error:
            raise CommandError(str(error)) from error
        training = TrainingOptions(
            grid=options["grid"],
            search_samples=options["search_samples"] or None,
            n_components=options["components"],
            whiten=options["whiten"],
            min_age=options["min_age"],
            balance=options["balance"],
            flip=options["flip"],
            max_records=options["max_records"],
            pad=options["pad"],
            pad_mode=options["pad_mode"],
        )
        self.stdout.write(f"training on {len(records)} labelled images from {options['data']}")
        manifest = train_and_save(
            records,
            options["out"],
            training,
            source=_shown(options["data"]),
            command=_reproduce(),
            notes=options["notes"],
        )
        self.stdout.write(self.style.SUCCESS(f"wrote {options['out']} (sha256 {manifest['sha256'][:12]})"))
        for label, metrics in (("all ages", manifest["metrics"]), ("adults", manifest["metrics"].get("adults"))):
            if metrics:
                self.stdout.write(
                    f"{label}: n={metrics['n']} no_face={metrics['no_face']} accuracy={metrics['accuracy']:.4f} "
                    f"balanced={metrics['balanced_accuracy']:.4f} auc={metrics['roc_auc']:.4f} "
                    f"races={ {name: round(value, 4) for name, value in metrics['race_accuracy'].items()} }"
                )


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the repository, or ``../`` for data beside it."""
    resolved = Path(path).resolve()
    for base, prefix in ((REPO_ROOT, Path()), (REPO_ROOT.parent, Path(".."))):
        if resolved.is_relative_to(base):
            return str(prefix / resolved.relative_to(base))
    return str(path)


def _reproduce() -> str:
    """The command line that produced this model, with the data path as seen from the repository."""
    arguments = [_shown(Path(arg)) if Path(arg).exists() and "/" in arg else arg for arg in sys.argv[1:]]
    return "DEBUG=1 python manage.py " + shlex.join(arguments)
