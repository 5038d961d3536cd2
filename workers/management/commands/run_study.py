"""manage.py run_study ROOT: the deepfake study on a FakeAVCeleb-shaped tree, written to --out.

It prints the expected duration before it starts, and with --against OTHER/study.json both runs per cell.
"""

from __future__ import annotations

import argparse
import json
import os
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
    StudyVideo,
    normalize_category,
    run_study,
)
from workers.pipeline.study.report import write_study
from workers.pipeline.study.runs import compare_runs, estimate_duration, same_videos

# What a researcher runs on the whole dataset: the shipped detection on every 10th frame. On the shared clips'
# tree (bench/study_sampling.py, README "the study") it ran about 7x faster than every frame, and no cell mean
# moved by more than 4 points (1.5 on average), well inside the cells' intervals.
DEFAULT_DETECTION_PRESET = "default"
DEFAULT_EVERY_N_FRAMES = 10


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
        parser.add_argument(
            "--every-n-frames",
            type=positive_int,
            default=DEFAULT_EVERY_N_FRAMES,
            help=f"analyse every K-th frame (default {DEFAULT_EVERY_N_FRAMES}; 1 with --detection study replicates "
            "the study exactly)",
        )
        parser.add_argument("--max-frames", type=positive_int, default=None, help="analyse at most M frames a video")
        parser.add_argument("--jobs", type=positive_int, default=None, help="worker processes (default: all cores)")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the sample and the bootstrap")
        parser.add_argument(
            "--detection",
            choices=sorted(DETECTION_PRESETS),
            default=DEFAULT_DETECTION_PRESET,
            help="'default' (the default): the app's shipped detection; 'study': the study's full resolution, "
            "scale 1.1, every frame detected (with --every-n-frames 1, the exact replication)",
        )
        parser.add_argument(
            "--against",
            metavar="OTHER/study.json",
            default=None,
            help="another run's study.json: print both runs' means per cell and their difference",
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
        jobs = options["jobs"] or len(os.sched_getaffinity(0))
        against = self._read_against(options["against"])

        def start_progress(sampled: list[StudyVideo]) -> None:
            frames, seconds = estimate_duration(sampled, options["root"], analysis, jobs=jobs)
            self.stdout.write(
                f"{len(sampled)} videos, {frames} frames to read: expected about {seconds / 60:.1f} min "
                f"on {jobs} process(es) (per-frame cost measured now on the first video)"
            )
            total = len(sampled)
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
                jobs=jobs,
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
        if against is not None:
            self._print_against(json.loads(paths["study.json"].read_text(encoding="utf-8")), against)

    def _read_against(self, path: str | None) -> dict | None:
        """The other run's study.json (read before the run starts, so a wrong path fails at once)."""
        if path is None:
            return None
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"--against {path}: {error}") from error

    def _print_against(self, document: dict, other: dict) -> None:
        """This run beside the other, cell by cell: both means (95% CI) and this minus the other, in points."""
        if not same_videos(other, document):
            self.stdout.write(self.style.WARNING("the two runs did not analyse the same videos"))
        self.stdout.write("cell: other run mean [CI] | this run mean [CI] | this - other (largest CI bound move)")
        for pair in compare_runs(other, document):
            shown = [
                "-"
                if mean is None
                else f"{mean:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"
                if interval
                else f"{mean:.2f}"
                for mean, interval in zip(pair.means, pair.intervals, strict=True)
            ]
            difference = "-" if pair.difference is None else f"{pair.difference:+.2f}"
            shift = "" if pair.interval_shift is None else f" ({pair.interval_shift:.2f})"
            self.stdout.write(
                f"{pair.category} {pair.ethnicity} {pair.gender}: {shown[0]} | {shown[1]} | {difference}{shift}"
            )
