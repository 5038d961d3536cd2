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

# The choices that define a model, with the command's defaults. A preset fixes all of them, so its command
# line reproduces the same model whatever the defaults become.
MODEL_CHOICES = {"grid": "study", "components": 50, "whiten": False, "balance": "none", "flip": False, "min_age": None}
# The deepfake study's own model: plain eigenfaces of the min-max scaled 100x100 crop (no mirroring, whitening,
# weighting or age filter), 50 components, SVM chosen on the study's grid.
PRESETS = {"study": dict(MODEL_CHOICES)}


class Command(BaseCommand):
    help = "Train the gender model (PCA eigenfaces -> calibrated SVM) and write model.joblib, manifest.json, report/."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="image folder, or a labels CSV")
        parser.add_argument("--labels", type=Path, help="CSV with path,gender[,race,age,group]; paths under --data")
        parser.add_argument(
            "--preset",
            choices=sorted(PRESETS),
            help="a named model: 'study' = the deepfake study's plain eigenfaces (50 components, its grid); "
            "it fixes --grid, --components, --whiten, --balance, --flip and --min-age",
        )
        parser.add_argument("--grid", choices=sorted(GRIDS), help="grid searched (default study)")
        parser.add_argument("--out", type=Path, default=Path("models/default"), help="model folder to write")
        parser.add_argument("--min-age", type=int, help="train only on faces of at least this age")
        parser.add_argument("--components", type=int, help="number of eigenfaces (default 50)")
        parser.add_argument("--whiten", action="store_true", default=None, help="whiten the PCA components")
        parser.add_argument(
            "--balance",
            choices=["none", "class", "group"],
            help="sample weights: equal total weight per gender, or per gender x race (default none)",
        )
        parser.add_argument("--flip", action="store_true", default=None, help="add mirrored training faces")
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
        choices = model_choices(options)
        try:
            records = read_dataset(options["data"], options["labels"])
        except (DatasetError, OSError) as error:
            raise CommandError(str(error)) from error
        training = TrainingOptions(
            grid=choices["grid"],
            search_samples=options["search_samples"] or None,
            n_components=choices["components"],
            whiten=choices["whiten"],
            min_age=choices["min_age"],
            balance=choices["balance"],
            flip=choices["flip"],
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


def model_choices(options: dict) -> dict:
    """The model-defining options: a preset's values, else those given, else the defaults."""
    given = {key: options[key] for key in MODEL_CHOICES if options[key] is not None}
    if not options["preset"]:
        return {**MODEL_CHOICES, **given}
    if given:
        flags = ", ".join("--" + key.replace("_", "-") for key in given)
        raise CommandError(f"--preset {options['preset']} fixes {flags}: leave them out")
    return dict(PRESETS[options["preset"]])


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
