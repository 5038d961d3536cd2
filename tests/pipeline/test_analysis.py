"""Analyzer end to end on real faces: images, videos, batching, callbacks, cancelling, and the range rule."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from workers.pipeline import analysis
from workers.pipeline.analysis import CLASSIFY_FRAMES, Analyzer
from workers.pipeline.config import DEFAULT_DETECTION
from workers.pipeline.errors import AnalysisCancelled, ImageReadError, VideoReadError
from workers.pipeline.model import ModelIntegrityError, cached_model, default_model_dir, load_model
from workers.pipeline.summary import track_and_summarize
from workers.pipeline.synthetic import astronaut_bgr, write_moving_face_clip
from workers.pipeline.types import Box

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def gender_model():
    try:
        return load_model(default_model_dir())
    except ModelIntegrityError as error:
        pytest.skip(f"no usable model in {default_model_dir()}: {error}")


class CountingModel:
    """The real model, counting how often it is asked and with how many faces: proves the batching."""

    def __init__(self, model):
        self.model, self.calls, self.rows = model, 0, []
        self.face_vectors, self.recipe, self.n_features = model.face_vectors, model.recipe, model.n_features

    def predict_p_female(self, vectors: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.rows.append(len(vectors))
        return self.model.predict_p_female(vectors)


@pytest.fixture(scope="module")
def moving_face_clip(tmp_path_factory):
    return write_moving_face_clip(tmp_path_factory.mktemp("clips") / "moving.mp4", count=60)


def boxes_by_frame(result) -> dict[int, list]:
    return {frame.index: [face.box for face in frame.faces] for frame in result.frames}


def test_astronaut_gives_one_classified_face(gender_model):
    result = Analyzer(gender_model).analyze_image(astronaut_bgr())
    assert (result.width, result.height) == (512, 512)
    assert len(result.faces) == 1
    face = result.faces[0]
    assert face.label in ("male", "female")
    assert 0.5 <= face.confidence <= 1.0
    assert face.confidence == pytest.approx(max(face.p_female, 1 - face.p_female))
    # Her face is around (220, 110) in the photo.
    assert face.box.x < 220 < face.box.x + face.box.w and face.box.y < 110 < face.box.y + face.box.h


def test_image_path_bytes_and_gray_array_agree(gender_model, tmp_path):
    analyzer = Analyzer(gender_model)
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), astronaut_bgr())
    from_array = analyzer.analyze_image(astronaut_bgr())
    assert analyzer.analyze_image(path) == from_array
    assert analyzer.analyze_image(path.read_bytes()) == from_array
    assert analyzer.analyze_image(cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2GRAY)) == from_array


def test_image_without_face_has_no_faces(gender_model):
    assert Analyzer(gender_model).analyze_image(np.full((200, 300, 3), 90, dtype=np.uint8)).faces == []


def test_unreadable_image_raises_image_read_error(gender_model, tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        Analyzer(gender_model).analyze_image(path)
    with pytest.raises(ImageReadError):
        Analyzer(gender_model).analyze_image(tmp_path / "missing.jpg")


def test_analyzer_without_a_model_uses_the_process_wide_cached_default(gender_model):
    analyzer = Analyzer()
    assert analyzer.model is cached_model()
    assert analyzer.analyze_image(astronaut_bgr()) == Analyzer(gender_model).analyze_image(astronaut_bgr())


class FixedBoxDetector:
    """A detector of the FaceDetector shape that always answers the same box: what Analyzer does with any detector."""

    def __init__(self, box: Box):
        self.box, self.videos, self.frames = box, [], []

    def detect(self, gray, frame_index):
        self.frames.append((frame_index, gray.ndim))
        return [self.box]

    def for_video(self, every_n_frames):
        self.videos.append(every_n_frames)
        return self


def test_analyzer_classifies_the_boxes_of_the_detector_it_is_given(gender_model, moving_face_clip):
    box = Box(10, 20, 100, 100)
    detector = FixedBoxDetector(box)
    analyzer = Analyzer(gender_model, detector=detector, image_detector=detector)
    image = analyzer.analyze_image(astronaut_bgr())
    assert [face.box for face in image.faces] == [box]
    assert detector.frames == [(0, 2)]  # a gray frame
    video = analyzer.analyze_video(moving_face_clip, every_n_frames=10)
    assert detector.videos == [10]
    assert [index for index, _ in detector.frames[1:]] == list(range(0, 60, 10))
    assert all([face.box for face in frame.faces] == [box] for frame in video.frames)


def test_video_frames_are_batched_reported_in_order_then_tracked_apart(gender_model, moving_face_clip):
    counting = CountingModel(gender_model)
    seen = []
    result = Analyzer(counting).analyze_video(
        moving_face_clip, every_n_frames=3, on_frame=lambda frame, bgr: seen.append((frame.index, bgr.shape))
    )
    # Analysis gives frames only: tracks and the summary are the caller's separate step.
    assert result.summary is None
    assert all(face.track_id is None for frame in result.frames for face in frame.faces)
    assert track_and_summarize(result) is result
    assert [index for index, _ in seen] == list(range(0, 60, 3))
    assert all(shape == (360, 640, 3) for _, shape in seen)
    assert (result.every_n_frames, result.summary.frames_analyzed, result.frames_read) == (3, 20, 60)
    with_faces = [frame for frame in result.frames if frame.faces]
    # The faces of CLASSIFY_FRAMES analysed frames go to the model in one call.
    assert counting.calls == -(-20 // CLASSIFY_FRAMES) and sum(counting.rows) == result.summary.faces
    # The head is found in nearly every frame, also between full detections, and is one person.
    assert len(with_faces) >= 18
    assert {face.track_id for frame in with_faces for face in frame.faces} == {1}
    assert result.summary.label in ("male", "female")


def test_grouping_frames_for_the_model_never_changes_an_answer(gender_model, moving_face_clip, monkeypatch):
    def answers():
        result = Analyzer(gender_model).analyze_video(moving_face_clip, every_n_frames=2)
        return [
            (frame.index, face.box, face.p_female, face.descriptor) for frame in result.frames for face in frame.faces
        ]

    grouped = answers()
    monkeypatch.setattr(analysis, "CLASSIFY_FRAMES", 1)  # one frame per model call, as before grouping
    alone = answers()
    monkeypatch.setattr(analysis, "CLASSIFY_FRAMES", 7)
    monkeypatch.setattr(analysis, "CLASSIFY_BYTES", 3 * 640 * 360 * 3)  # the memory bound cuts groups of 3
    bounded = answers()
    assert len(grouped) >= 25
    assert grouped == alone == bounded  # bit for bit


def test_video_range_starting_at_a_redetection_frame_gives_the_whole_runs_detections(gender_model, moving_face_clip):
    analyzer = Analyzer(gender_model, detection=replace(DEFAULT_DETECTION, redetect_every=5))
    for every_n_frames in (1, 2):
        whole = boxes_by_frame(analyzer.analyze_video(moving_face_clip, every_n_frames=every_n_frames))
        step = every_n_frames * 5
        parts: dict[int, list] = {}
        for start, end in ((0, step), (step, 4 * step), (4 * step, None)):
            part = analyzer.analyze_video(
                moving_face_clip, every_n_frames=every_n_frames, start_frame=start, end_frame=end
            )
            parts.update(boxes_by_frame(part))
        assert parts == whole
        assert sum(1 for boxes in whole.values() if boxes) >= 0.9 * len(whole)


def test_should_stop_cancels_the_analysis(gender_model, moving_face_clip):
    analysed = []
    with pytest.raises(AnalysisCancelled):
        Analyzer(gender_model).analyze_video(
            moving_face_clip,
            on_frame=lambda frame, bgr: analysed.append(frame.index),
            should_stop=lambda: len(analysed) >= 4,
        )
    assert analysed == [0, 1, 2, 3]


def test_unreadable_video_raises_video_read_error(gender_model, tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoReadError):
        Analyzer(gender_model).analyze_video(path)


def test_shared_clip_range_rule_holds_on_real_footage(gender_model, shared_data):
    clip = shared_data / "videos" / "ffpp_c40_original_youtube_183.mp4"
    analyzer = Analyzer(gender_model)
    k = DEFAULT_DETECTION.redetect_every
    whole = boxes_by_frame(analyzer.analyze_video(clip, end_frame=4 * k))
    parts = {}
    for start in range(0, 4 * k, 2 * k):
        parts.update(boxes_by_frame(analyzer.analyze_video(clip, start_frame=start, end_frame=start + 2 * k)))
    assert parts == whole
    assert sum(1 for boxes in whole.values() if boxes) >= 0.9 * len(whole)
