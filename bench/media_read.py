"""How a worker should read a video kept in object storage: a presigned URL handed to OpenCV, or a temporary download.

Run from the repository root: ``.venv/bin/python bench/media_read.py [--clips 8] [--repeats 3] [--json OUT]``.
It starts an S3-protocol server on loopback (moto's ``moto_server``, a process of its own like MinIO would be),
stores the first --clips shared clips in a bucket, and for each clip times, median over --repeats:
- ``local``: decoding from the local file (the file-system storage; the floor);
- ``download``: downloading the object to a temporary file, decoding it, removing it;
- ``url``: decoding straight from a presigned URL (FFmpeg's HTTP reader, ranged requests);
each for the whole clip (one part) and for its second half (the last part of a split video: a seek first).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere, without installing

from bench.live_platform import LocalS3, machine  # noqa: E402
from tests.conftest import shared_data_dir  # noqa: E402
from workers.pipeline.video import iter_frames, probe  # noqa: E402


def decode(source: str, start_frame: int) -> int:
    """Decode every frame from start_frame to the end; how many."""
    return sum(1 for _ in iter_frames(source, start_frame=start_frame))


def timed(action: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Median seconds of ``action`` over ``repeats`` runs, and what it returned."""
    seconds, result = [], 0
    for _ in range(repeats):
        began = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds), result


def download_and_decode(client, bucket: str, key: str, start_frame: int) -> int:
    """The download way: a temporary file, always removed."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "video.mp4"
        client.download_file(bucket, key, str(target))
        return decode(str(target), start_frame)


def measure_clip(s3: LocalS3, clip: Path, repeats: int) -> dict:
    """The three ways on one clip, whole and from its middle."""
    client, key = s3.client(), f"uploads/{clip.name}"
    client.upload_file(str(clip), s3.bucket, key)
    url = client.generate_presigned_url("get_object", Params={"Bucket": s3.bucket, "Key": key}, ExpiresIn=300)
    frames = probe(clip).frame_count
    row = {"clip": clip.name, "bytes": clip.stat().st_size, "frames": frames}
    for part, start in (("whole", 0), ("half", frames // 2)):
        for way, action in (
            ("local", lambda start=start: decode(str(clip), start)),
            ("download", lambda start=start: download_and_decode(client, s3.bucket, key, start)),
            ("url", lambda start=start: decode(url, start)),
        ):
            seconds, decoded = timed(action, repeats)
            row[f"{part}_{way}_s"] = round(seconds, 4)
            row[f"{part}_{way}_frames"] = decoded
    client.delete_object(Bucket=s3.bucket, Key=key)
    return row


def summary(rows: list[dict]) -> dict:
    """Medians over clips of each way's cost relative to the local file."""
    figures = {}
    for part in ("whole", "half"):
        for way in ("download", "url"):
            ratios = [row[f"{part}_{way}_s"] / row[f"{part}_local_s"] for row in rows]
            figures[f"{part}_{way}_vs_local_median"] = round(statistics.median(ratios), 3)
            figures[f"{part}_{way}_same_frames"] = all(
                row[f"{part}_{way}_frames"] == row[f"{part}_local_frames"] for row in rows
            )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8, help="how many shared clips (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measure, median quoted (default 3)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write all figures as JSON")
    args = parser.parse_args()
    data = shared_data_dir()
    if data is None:
        print("no shared clips (../shared/data/videos or $GENREC_SHARED_DATA)", file=sys.stderr)
        return 1
    clips = sorted((data / "videos").glob("*.mp4"))[: args.clips]
    with LocalS3() as s3:
        rows = [measure_clip(s3, clip, args.repeats) for clip in clips]
    report = {"machine": machine(), "rows": rows, "summary": summary(rows)}
    for row in rows:
        print(json.dumps(row))
    print(json.dumps(report["summary"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
