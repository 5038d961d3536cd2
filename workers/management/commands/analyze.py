"""manage.py analyze PATH: find and classify the faces of one image or video, optionally as JSON and annotated.

An image passes the web upload's own checks first (predictions.validators.check_media_file): a header that
claims more pixels than GENREC_MAX_IMAGE_PIXELS gets the same one-line refusal, and a truncated image is
analysed with a warning.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from predictions.validators import ImageTruncated, UploadRejected, check_media_file
from workers.management.arguments import positive_int
from workers.pipeline.analysis import Analyzer
from workers.pipeline.annotation import annotate
from workers.pipeline.errors import PipelineError
from workers.pipeline.model import ModelIntegrityError, default_model_dir, load_model
from workers.pipeline.summary import track_and_summarize
from workers.pipeline.types import FrameResult, analysed_frames
from workers.pipeline.video import probe


class Command(BaseCommand):
    help = "Find and classify every face of an image or a video with the shipped (or a given) model."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("path", type=Path, help="an image or a video file")
        parser.add_argument("--json", type=Path, metavar="OUT", help="write the full result as JSON ('-' for stdout)")
        parser.add_argument("--annotated", type=Path, metavar="OUT.jpg", help="write the annotated image or frame")
        parser.add_argument("--every-n-frames", type=positive_int, default=1, help="analyse every n-th video frame")
        parser.add_argument("--max-frames", type=positive_int, help="analyse at most this many video frames")
        parser.add_argument("--model", type=Path, help=f"model folder (default {default_model_dir()})")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"{path} does not exist or is not a file")
        # OpenCV tells images by their first bytes, so a video is whatever no image reader claims.
        is_image = cv2.haveImageReader(str(path))
        if is_image:
            self._check_image(path)
        try:
            analyzer = Analyzer(load_model(options["model"]))
            if is_image:
                document, annotated = self._image(analyzer, path)
            else:
                document, annotated = self._video(analyzer, path, options["every_n_frames"], options["max_frames"])
        except (PipelineError, ModelIntegrityError) as error:
            raise CommandError(str(error)) from error
        if options["annotated"] and annotated is not None:
            if not cv2.imwrite(str(options["annotated"]), annotated):
                raise CommandError(f"could not write {options['annotated']}")
        if options["json"]:
            text = json.dumps(document, indent=2)
            if str(options["json"]) == "-":
                self.stdout.write(text)
            else:
                options["json"].write_text(text + "\n")

    def _check_image(self, path: Path) -> None:
        """The web upload's checks: a refusal ends the command with its message; a truncated image only warns."""
        try:
            check_media_file(path, "image")
        except ImageTruncated:
            self.stderr.write(f"warning: {path.name} is truncated: only the part of the image that decodes is analysed")
        except UploadRejected as refusal:
            raise CommandError(f"{path.name}: {refusal.message}") from None

    def _image(self, analyzer: Analyzer, path: Path) -> tuple[dict[str, Any], np.ndarray]:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise CommandError(f"{path} looks like an image but cannot be decoded")
        result = analyzer.analyze_image(bgr)
        for face in result.faces:
            self.stderr.write(f"{face.box}: {face.label} ({face.confidence:.0%})")
        self.stderr.write(f"{len(result.faces)} face(s) in {path.name}")
        return result.to_dict(), annotate(bgr, result.faces)

    def _video(
        self, analyzer: Analyzer, path: Path, every_n_frames: int, max_frames: int | None
    ) -> tuple[dict[str, Any], np.ndarray | None]:
        info = probe(path)
        expected = analysed_frames(info.frame_count, every_n_frames)
        total = min(expected, max_frames) if max_frames else expected
        shown: dict[str, Any] = {"faces": -1, "frame": None}

        def keep_busiest_frame(frame: FrameResult, bgr: np.ndarray) -> None:
            progress.update(1)
            if len(frame.faces) > shown["faces"]:
                shown.update(faces=len(frame.faces), frame=annotate(bgr, frame.faces))

        with tqdm(total=total, unit="frame", desc=path.name, file=sys.stderr, leave=False) as progress:
            result = analyzer.analyze_video(
                path, every_n_frames=every_n_frames, max_frames=max_frames, on_frame=keep_busiest_frame
            )
        summary = track_and_summarize(result).summary
        confidence = f"{summary.mean_confidence:.0%} ± {summary.std_confidence:.0%}" if summary.label else "no face"
        self.stderr.write(
            f"{path.name}: {summary.label or 'no label'} ({confidence}); {summary.frames_with_faces} of "
            f"{summary.frames_analyzed} analysed frames with faces, {len(summary.persons)} person(s)"
        )
        if result.stopped_early:
            self.stderr.write(f"the video stopped after {result.frames_read} of {info.frame_count} announced frames")
        return result.to_dict() | {"summary": asdict(summary)}, shown["frame"]
