"""Frame reading: sampling, ranges, seeking, and broken files that must fail clearly and never hang."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from workers.pipeline.errors import VideoReadError
from workers.pipeline.synthetic import write_video
from workers.pipeline.video import FrameReader, probe

pytestmark = pytest.mark.timeout(60)
FRAME_COUNT = 30


def numbered_frames(count: int) -> list[np.ndarray]:
    """Frames whose brightness encodes their index, so a frame read back tells where it came from."""
    return [np.full((120, 160, 3), 8 * number, dtype=np.uint8) for number in range(count)]


def frame_number(bgr: np.ndarray) -> int:
    return round(float(bgr.mean()) / 8)


@pytest.fixture
def numbered_clip(tmp_path):
    return write_video(tmp_path / "numbered.mp4", numbered_frames(FRAME_COUNT))


def test_probe_reads_the_containers_figures(numbered_clip):
    info = probe(numbered_clip)
    assert (info.frame_count, info.width, info.height) == (FRAME_COUNT, 160, 120)
    assert info.fps == pytest.approx(25.0)


def test_frame_reader_every_n_yields_the_multiples_of_n_with_their_content(numbered_clip):
    read = list(FrameReader(numbered_clip, every_n_frames=4))
    assert [index for index, _, _ in read] == list(range(0, FRAME_COUNT, 4))
    assert [frame_number(bgr) for _, _, bgr in read] == list(range(0, FRAME_COUNT, 4))
    assert read[1][1] == pytest.approx(4 / 25.0)


def test_frame_reader_range_and_max_frames_bound_what_is_yielded(numbered_clip):
    ranged = [index for index, _, _ in FrameReader(numbered_clip, every_n_frames=3, start_frame=7, end_frame=20)]
    assert ranged == [9, 12, 15, 18]
    assert [index for index, _, _ in FrameReader(numbered_clip, max_frames=5, start_frame=10)] == [10, 11, 12, 13, 14]


def test_frame_reader_seeking_gives_the_frames_sequential_reading_gives(numbered_clip):
    sequential = {index: bgr for index, _, bgr in FrameReader(numbered_clip)}
    for start in (1, 13, 29):
        index, _, bgr = next(iter(FrameReader(numbered_clip, start_frame=start)))
        assert index == start
        assert np.array_equal(bgr, sequential[start])


def test_frame_reader_counts_frames_read_including_skipped_ones(numbered_clip):
    reader = FrameReader(numbered_clip, every_n_frames=5, start_frame=10)
    assert len(list(reader)) == 4
    assert reader.frames_read == FRAME_COUNT - 10
    assert not reader.stopped_early


def test_random_bytes_raise_video_read_error(tmp_path):
    path = tmp_path / "random.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoReadError, match="random.mp4"):
        probe(path)
    with pytest.raises(VideoReadError):
        list(FrameReader(path))


def test_empty_and_zero_frame_files_raise_video_read_error(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    zero_frames = tmp_path / "zero.mp4"
    cv2.VideoWriter(str(zero_frames), cv2.VideoWriter_fourcc(*"mp4v"), 25, (160, 120)).release()
    for path in (empty, zero_frames, tmp_path / "missing.mp4"):
        with pytest.raises(VideoReadError):
            probe(path)
        with pytest.raises(VideoReadError):
            list(FrameReader(path))


def test_truncated_mp4_without_its_index_raises_video_read_error(numbered_clip):
    # VideoWriter puts the mp4 index (moov) at the end, so a cut file has none and cannot open.
    content = numbered_clip.read_bytes()
    numbered_clip.write_bytes(content[: len(content) // 2])
    with pytest.raises(VideoReadError):
        list(FrameReader(numbered_clip))


def test_truncated_stream_ends_early_and_says_how_far_it_read(tmp_path):
    path = write_video(tmp_path / "cut.avi", numbered_frames(FRAME_COUNT), fourcc="MJPG")
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    reader = FrameReader(path)
    read = [index for index, _, _ in reader]
    assert 0 < len(read) < FRAME_COUNT
    assert read == list(range(len(read)))
    assert reader.frames_read == len(read)
    assert reader.stopped_early


def test_start_past_the_end_raises_video_read_error(numbered_clip):
    with pytest.raises(VideoReadError, match="frame 500"):
        list(FrameReader(numbered_clip, start_frame=500))


def test_every_n_frames_below_one_is_refused(numbered_clip):
    with pytest.raises(ValueError):
        list(FrameReader(numbered_clip, every_n_frames=0))
