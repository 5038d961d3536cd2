"""manage.py run_study ROOT: the deepfake study on a FakeAVCeleb-shaped tree, written to --out."""

from __future__ import annotations

import argparse
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from workers.management.arguments import positive_int
from workers.pipeline.errors import PipelineError
from workers.pipeline.model import MANIFEST_FILE, model_folders
from workers.pipeline.study import (
    DEFAULT_CATEGORIES,
    DEFAULT_COMPARISON,
    DEFAULT_PER_GROUP,
    DEFAULT_SEED,
    DETECTION_PRESETS,
    AnalysisOptions,
    normalize_category,
    run_study,
)
from workers.pipeline.study.report import write_study


def category_name(value: str) -> str:
    """argparse type: any spelling of a FakeAVCeleb category ('FakeVideo-FakeAudio', 'fakevideo_fakeaudio')."""
    name = normalize_category(value)
    if name is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a FakeAVCeleb category")
    return name


def study_model_dir(asked: str | None) -> Path:
    """The model folder a study runs with: an installed model by name, a folder, else GENREC_MODEL_DIR.

    Names are the folders under GENREC_MODELS_ROOT (the ones sync_models registers), so the command needs no database.
    """
    if asked is None:
        return Path(settings.GENREC_MODEL_DIR)
    for candidate in (Path(settings.GENREC_MODELS_ROOT) / asked, Path(asked)):
        if (candidate / MANIFEST_FILE).is_file():
            return candidate
    names = ", ".join(folder.name for folder in model_folders(Path(settings.GENREC_MODELS_ROOT))) or "none"
    raise CommandError(f"no model called {asked!r}: the installed models are {names} (or give a model folder)")


class Command(BaseCommand):
    help = (
        "Run the deepfake study on ROOT laid out as FakeAVCeleb "
        "(<category>/<ethnicity>/<men|women>/<id>/*.mp4, or with its meta_data.csv) and write "
        "study.json, study.csv, study.md, study.png and confidence_hist.png into --out."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("root", help="the FakeAVCeleb folder")
        parser.add_argument(
            "--categories",
            nargs="+",
            type=category_name,
            default=list(DEFAULT_CATEGORIES),
            help="categories to analyse (default: the study's two)",
        )
        parser.add_argument(
            "--compare",
            nargs=2,
            type=category_name,
            default=list(DEFAULT_COMPARISON),
            metavar=("REAL", "FAKE"),
            help="the two categories compared (always analysed)",
        )
        parser.add_argument(
            "--per-group",
            type=positive_int,
            default=DEFAULT_PER_GROUP,
            help="videos sampled per category x ethnicity x gender",
        )
        parser.add_argument("--every-n-frames", type=positive_int, default=1, help="analyse every K-th frame")
        parser.add_argument("--max-frames", type=positive_int, default=None, help="analyse at most M frames a video")
        parser.add_argument("--jobs", type=positive_int, default=None, help="worker processes (default: all cores)")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the sample and the bootstrap")
        parser.add_argument(
            "--detection",
            choices=sorted(DETECTION_PRESETS),
            default="study",
            help="'study': full resolution, scale 1.1, every frame detected; 'default': the app's",
        )
        parser.add_argument(
            "--model",
            default=None,
            help="an installed model by name (a folder under models/, see sync_models) or a model folder's path "
            "(default: GENREC_MODEL_DIR, models/default)",
        )
        parser.add_argument("--out", default="var/study", help="output folder")

    def handle(self, *args, **options) -> None:
        analysis = AnalysisOptions(
            every_n_frames=options["every_n_frames"],
            max_frames=options["max_frames"],
            detection=DETECTION_PRESETS[options["detection"]],
            model_dir=str(study_model_dir(options["model"])),
        )
        progress_bars: list[tqdm] = []

        def start_progress(total: int) -> None:
            progress_bars.append(
                # The raw stream: OutputWrapper.write would end every redraw of the bar with a newline.
                tqdm(total=total, unit="video", desc="study", disable=options["verbosity"] == 0, file=self.stderr._out)
            )

        try:
            result = run_study(
                options["root"],
                categories=options["categories"],
                comparison=tuple(options["compare"]),
                per_group=options["per_group"],
                seed=options["seed"],
                options=analysis,
                jobs=options["jobs"],
                on_sampled=start_progress,
                on_video=lambda row: progress_bars[0].update(1),
            )
        except (PipelineError, OSError) as error:  # ModelIntegrityError is a PipelineError
            raise CommandError(str(error)) from error
        finally:
            for bar in progress_bars:
                bar.close()
        paths = write_study(result, options["out"])
        for cell in result.cells:
            if cell.videos_without_faces or cell.videos_failed:
                self.stdout.write(
                    f"{cell.category} {cell.ethnicity} {cell.gender}: left out of the figures: "
                    f"{cell.videos_without_faces} without a face, {cell.videos_failed} unreadable"
                )
        for comparison in result.comparisons:
            self.stdout.write(comparison.sentence)
        self.stdout.write(self.style.SUCCESS(f"wrote {', '.join(str(path) for path in paths.values())}"))
