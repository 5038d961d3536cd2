"""``manage.py evaluate_model``: score a saved model on a labelled face folder, as training's held-out check does."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workers.pipeline.datasets import DatasetError, FaceRecord, filter_min_age, read_dataset
from workers.pipeline.evaluation import evaluate_with_adults
from workers.pipeline.face_extraction import extract_faces
from workers.pipeline.model import ModelIntegrityError, default_model_dir, load_model
from workers.pipeline.training import TrainingOptions, split_records, stratified_subset

# The manifest's "detection" fields that decide which face a training image gives (the rest are video knobs).
DETECTION_FIELDS = ("scale_factor", "min_neighbors", "min_size", "detect_width")


class Command(BaseCommand):
    help = "Evaluate a model on labelled faces (found by the Haar detector as at inference); optionally write JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="image folder, or a labels CSV")
        parser.add_argument("--labels", type=Path, help="CSV with path,gender[,race,age,group]; paths under --data")
        parser.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
        parser.add_argument("--json", type=Path, help="write all metrics to this file")
        parser.add_argument("--min-age", type=int, help="evaluate only faces of at least this age")
        parser.add_argument("--max-records", type=int, help="evaluate a stratified subset (quick checks)")
        parser.add_argument(
            "--held-out",
            action="store_true",
            help="evaluate only the test side of the train/test split recorded in the model's manifest "
            "(--data must be the data it was trained on; --min-age then selects within that side)",
        )

    def handle(self, *args, **options) -> None:
        logging.basicConfig(level=logging.INFO if options["verbosity"] > 1 else logging.WARNING)
        try:
            model = load_model(options["model"] or default_model_dir())
            records = read_dataset(options["data"], options["labels"])
        except (ModelIntegrityError, DatasetError, OSError) as error:
            raise CommandError(str(error)) from error
        extraction = extraction_options(model.manifest)
        if options["held_out"]:
            records, split = held_out_records(records, model.manifest, options["max_records"])
            records = filter_min_age(records, options["min_age"])
        else:
            records = filter_min_age(records, options["min_age"])
            records = stratified_subset(records, options["max_records"], extraction.seed)
            split = {"held_out": False}
        split.update(min_age=options["min_age"], images=len(records))
        if not records:
            raise CommandError("no labelled images left to evaluate")
        if split["held_out"]:
            self.stdout.write(
                f"split: held-out test side of {split['records']} records (test_size={split['test_size']}, "
                f"seed={split['seed']}): {split['test_images']} test images"
                + ("" if options["min_age"] is None else f", {len(records)} aged {options['min_age']}+")
            )
        else:
            self.stdout.write(f"split: none, all {len(records)} images of --data")
        faces = extract_faces(records, extraction, desc="images")
        metrics = evaluate_with_adults(faces.records, model.predict_p_female(faces.vectors), faces.no_face)
        metrics["model"] = {"name": model.name, "sha256": model.sha256}
        metrics["split"] = split
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


def extraction_options(manifest: dict[str, Any]) -> TrainingOptions:
    """Face extraction as the model was trained: its manifest's detection settings and padding, else the defaults."""
    detection = manifest.get("detection") or {}
    defaults = TrainingOptions()
    return dataclasses.replace(
        defaults,
        pad=detection.get("pad", defaults.pad),
        pad_mode=detection.get("pad_mode", defaults.pad_mode),
        detection=dataclasses.replace(
            defaults.detection, **{name: detection[name] for name in DETECTION_FIELDS if name in detection}
        ),
    )


def held_out_records(
    records: list[FaceRecord], manifest: dict[str, Any], max_records: int | None
) -> tuple[list[FaceRecord], dict[str, Any]]:
    """The test side of the model's training split, re-created as ``train_and_save`` made it, and its description."""
    training_data = manifest.get("training_data") or {}
    split = training_data.get("split") or {}
    if "test_size" not in split or "seed" not in split:
        raise CommandError(
            "--held-out: the model's manifest records no training split (training_data.split with test_size "
            "and seed), so its held-out images cannot be told apart; evaluate the whole folder instead"
        )
    # Training took a stratified subset of this many records before splitting (all of them when it was not
    # limited, which stratified_subset returns unchanged), so the same size re-creates the same population.
    trained_on = training_data.get("records")
    if max_records is not None and max_records != trained_on:
        raise CommandError(
            f"--held-out with --max-records {max_records}: the model was split from {trained_on} records, so a "
            "different subset would not be its held-out split; drop --max-records (--min-age is fine)"
        )
    if trained_on is not None and len(records) < trained_on:
        raise CommandError(
            f"--held-out: --data has {len(records)} labelled images but the model was trained on {trained_on}; "
            "its split can only be re-created from the same data"
        )
    population = stratified_subset(records, trained_on, split["seed"])
    _, test = split_records(population, split["test_size"], split["seed"])
    expected = training_data.get("test_images")
    if expected is not None and len(test) != expected:
        raise CommandError(
            f"--held-out: the re-created split has {len(test)} test images where the manifest records {expected}; "
            "--data is not the data the model was trained on"
        )
    description = {
        "held_out": True,
        "test_size": split["test_size"],
        "seed": split["seed"],
        "records": len(population),
        "test_images": len(test),
    }
    return test, description
