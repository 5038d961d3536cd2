"""The detector seam and Haar detection on scikit-image's public-domain astronaut photo (Eileen Collins, one face)."""

from dataclasses import replace

import numpy as np
import pytest
from skimage import data

from workers.pipeline.config import DEFAULT_DETECTION, IMAGE_DETECTION, STUDY_DETECTION
from workers.pipeline.detection import DETECTORS, make_detector, to_gray
from workers.pipeline.haar import HaarDetector, VideoFaceDetector, detect_faces

# Where her face is in the 512x512 photo (checked by eye): roughly x 160-260, y 50-180.
FACE_CENTRE = (210, 115)


@pytest.fixture(scope="module")
def astronaut_gray() -> np.ndarray:
    rgb = data.astronaut()
    return to_gray(rgb[:, :, ::-1].copy())


def _contains(box, point) -> bool:
    return box.x <= point[0] <= box.x + box.w and box.y <= point[1] <= box.y + box.h


@pytest.mark.parametrize("detection", [DEFAULT_DETECTION, STUDY_DETECTION], ids=["default", "study"])
def test_detect_faces_finds_the_astronaut_face(astronaut_gray, detection):
    boxes = detect_faces(astronaut_gray, detection)
    assert len(boxes) == 1
    assert _contains(boxes[0], FACE_CENTRE)
    assert 60 <= boxes[0].w <= 200


def test_detect_faces_maps_downscaled_boxes_back_to_original_pixels(astronaut_gray):
    big = np.kron(astronaut_gray, np.ones((2, 2), dtype=np.uint8))  # 1024x1024, detected on a smaller copy
    boxes = detect_faces(big, DEFAULT_DETECTION)
    faces = [box for box in boxes if _contains(box, (FACE_CENTRE[0] * 2, FACE_CENTRE[1] * 2))]
    assert len(faces) == 1
    assert 120 <= faces[0].w <= 400
    assert all(box.x + box.w <= 1024 and box.y + box.h <= 1024 for box in boxes)


def test_detect_faces_finds_nothing_in_a_blank_frame():
    assert detect_faces(np.full((300, 400), 90, dtype=np.uint8)) == []


def test_to_gray_accepts_gray_bgr_and_bgra():
    bgr = np.zeros((4, 5, 3), dtype=np.uint8)
    assert to_gray(bgr).shape == (4, 5)
    assert to_gray(np.zeros((4, 5, 4), dtype=np.uint8)).shape == (4, 5)
    assert to_gray(np.zeros((4, 5), dtype=np.uint8)).shape == (4, 5)


def test_tracked_boxes_keep_the_size_whole_frame_detection_gives(shared_data):
    """Between whole-frame detections the tracked search must not let a face's box grow frame after frame.

    On this compressed interview clip the tracked box once grew by a quarter within ten frames, which
    changed the crop the model sees and with it the video's label.
    """
    import cv2

    capture = cv2.VideoCapture(str(shared_data / "videos" / "ffpp_c40_original_youtube_599.mp4"))
    detector = VideoFaceDetector(DEFAULT_DETECTION)
    ratios = []
    for index in range(DEFAULT_DETECTION.redetect_every):
        ok, frame = capture.read()
        assert ok
        gray = to_gray(frame)
        whole = max(detect_faces(gray, DEFAULT_DETECTION), key=lambda box: box.w)
        tracked = [
            box
            for box in detector.detect(gray, index)
            if _contains(box, (whole.x + whole.w // 2, whole.y + whole.h // 2))
        ]
        assert tracked, f"frame {index}: the main face was lost"
        ratios.append(tracked[0].w / whole.w)
    capture.release()
    assert 0.93 <= float(np.median(ratios)) <= 1.07, ratios
    assert 0.85 <= min(ratios) and max(ratios) <= 1.15, ratios


def test_make_detector_builds_the_named_detector_and_refuses_an_unknown_name():
    detector = make_detector(IMAGE_DETECTION)
    assert isinstance(detector, HaarDetector) and DETECTORS[IMAGE_DETECTION.detector] is HaarDetector
    with pytest.raises(ValueError, match="unknown face detector 'nope'"):
        make_detector(replace(IMAGE_DETECTION, detector="nope"))


@pytest.mark.parametrize("detection", [DEFAULT_DETECTION, STUDY_DETECTION], ids=["default", "study"])
def test_haar_detector_gives_what_detect_faces_gives(astronaut_gray, detection):
    big = np.kron(astronaut_gray, np.ones((2, 2), dtype=np.uint8))
    detector = make_detector(detection)
    for gray in (astronaut_gray, big):
        assert detector.detect(gray, 0) == detect_faces(gray, detection)
    # A video's first frame is a whole-frame search, and every video starts afresh.
    video = detector.for_video(every_n_frames=2)
    assert isinstance(video, VideoFaceDetector)
    assert video.detect(astronaut_gray, 0) == detect_faces(astronaut_gray, detection)
    assert video.for_video(2).detect(big, 0) == detect_faces(big, detection)
