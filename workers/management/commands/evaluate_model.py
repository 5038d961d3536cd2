"""``manage.py evaluate_model``: score a saved model on a labelled face folder, as training's held-out check does."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workers.pipeline.datasets import DatasetError, filter_min_age, read_dataset
from workers.pipeline.evaluation import evaluate_with_adults
from workers.pipeline.model import ModelIntegrityError, default_model_dir, load_model
from workers.pipeline.training import TrainingOptions, extract_faces, stratified_subset


class Command(BaseCommand):
    help = "Evaluate a model on labelled faces (found by the Haar detector as at inference); optionally write JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="image folder, or a labels CSV")
        parser.add_argument("--labels", type=Path, help="CSV with path,gender[,race,age,group]; paths under --data")
        parser.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
        parser.add_argument("--json", type=Path, help="write all metrics to this file")
        parser.add_argument("--min-age", type=int, help="evaluate only faces of at least this age")
        parser.add_argument("--max-records", type=int, help="evaluate a stratified subset (quick checks)")

    def handle(self, *args, **options) -> None:
        logging.basicConfig(level=logging.INFO if options["verbosity"] > 1 else logging.WARNING)
        try:
            model = load_model(options["model"] or default_model_dir())
            records = filter_min_age(read_dataset(options["data"], options["labels"]), options["min_age"])
        except (ModelIntegrityError, DatasetError, OSError) as error:
            raise CommandError(str(error)) from error
        if not records:
            raise CommandError("no labelled images left to evaluate")
        detection = model.manifest.get("detection", {})
        extraction = TrainingOptions(
            pad=detection.get("pad", TrainingOptions.pad), pad_mode=detection.get("pad_mode", TrainingOptions.pad_mode)
        )
        records = stratified_subset(records, options["max_records"], extraction.seed)
        faces = extract_faces(records, extraction, desc="images")
        metrics = evaluate_with_adults(faces.records, model.predict_p_female(faces.vectors), faces.no_face)
        metrics["model"] = {"name": model.name, "sha256": model.sha256}
        if options["json"]:
            options["json"].parent.mkdir(parents=True, exist_ok=True)
            options["json"].write_text(json.dumps(metrics, indent=1) + "\n")
        for label, section in (("all", metrics), ("adults", metrics.get("adults"))):
            if section and section["n"]:
                auc = "n/a" if section["roc_auc"] is None else f"{section['roc_auc']:.4f}"
                self.stdout.write(
                    f"{label}: n={section['n']} no_face={section['no_face']} accuracy={section['accuracy']:.4f} "
                    f"roc_auc={auc}"
                )
