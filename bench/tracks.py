"""Persons, tracks and labels on the shared clips, every frame: today's tracker against the current one.

Run from the repository root: ``.venv/bin/python bench/tracks.py [--json OUT] [--baseline-rev REV]
[--model DIR] [--compare DIR ...]``.
The first run analyses every frame of every shared clip once with the shipped model and the default video
detection (minutes; run it with ``nice``) and caches per clip, under ``var/bench-tracks/``, every face's
box, P(female) and appearance descriptor, plus what the profile-face prototype finds on frames where the
frontal search found fewer faces than the frame before. Later runs read the cache and take seconds.
The baseline is ``workers/pipeline/tracking.py`` as it was at ``--baseline-rev``, loaded from git.
"""

from __future__ import annotations

import os

# As in the Celery workers: one BLAS/OpenMP thread per process, before numpy is imported.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere, without installing the project

from bench.tracks_cache import frames_of, load_clips  # noqa: E402
from workers.pipeline import confirmation, tracking  # noqa: E402
from workers.pipeline.haar import overlap  # noqa: E402
from workers.pipeline.model import cached_model, default_model_dir  # noqa: E402
from workers.pipeline.types import FrameResult, label_for  # noqa: E402

LABELLED = ("male", "female")
BASELINE_REV = "67fc5d6"  # tracking.py before persons, fragments and appearance


def baseline_tracking(rev: str):
    """``workers/pipeline/tracking.py`` as it was at git revision ``rev``, imported as a module."""
    source = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "show", f"{rev}:workers/pipeline/tracking.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("workers.pipeline.baseline_tracking", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "workers.pipeline"
    sys.modules[spec.name] = module  # dataclasses look their module up there
    exec(compile(source, f"{rev}:tracking.py", "exec"), module.__dict__)  # noqa: S102 - our own file at a commit
    return module


def person_steps(frames: list[FrameResult], attribute: str) -> list[float]:
    """|change of ``attribute``| of each person between consecutive analysed frames they are both seen in."""
    last: dict[int, tuple[int, float]] = {}
    steps = []
    for position, frame in enumerate(frames):
        for face in (face for face in frame.faces if face.track_id is not None):
            value = getattr(face, attribute)
            if face.track_id in last and last[face.track_id][0] == position - 1:
                steps.append(abs(value - last[face.track_id][1]))
            last[face.track_id] = (position, value)
    return steps


def run_tracker(clip: dict[str, np.ndarray], module, with_profile: bool = False, descriptors: bool = True) -> dict:
    """Track one cached clip with a tracking module; the per-clip figures."""
    frames = frames_of(clip, with_profile, descriptors)
    module.assign_tracks(frames)
    summary = module.summarize_video(frames)
    lengths: dict[int, int] = {}
    faces = [face for frame in frames for face in frame.faces]
    for face in faces:
        if face.track_id is not None:  # unconfirmed detections (confirmation.py) start no track
            lengths[face.track_id] = lengths.get(face.track_id, 0) + 1
    row = {
        "tracks": len(lengths),
        "unconfirmed": sum(face.track_id is None for face in faces),
        "short_tracks": sum(1 for n in lengths.values() if n <= tracking.FRAGMENT_MAX_FRAMES),
        "short_tracks_on_long_ones": short_tracks_on_long_ones(frames, lengths),
        "persons": len(summary.persons),
        "label": summary.label,
        "raw_steps": person_steps(frames, "p_female"),
        "frames_with_faces": summary.frames_with_faces,
        "frames": len(frames),
    }
    if module is tracking:  # the baseline has no smoothed curve, one aggregate and no main person
        row["main_person_frames"] = lengths.get(summary.main_track_id, 0)
        row["smoothed_steps"] = person_steps(frames, "p_female_smoothed")
        row["aggregates"] = main_person_aggregates(frames, summary.main_track_id)
    return row


def every_detection_tracked(clips: dict[str, dict[str, np.ndarray]]) -> dict[str, dict]:
    """The current tracker with confirmation switched off (one frame confirms): every detection starts a track."""
    needed = confirmation.CONFIRM_FRAMES
    confirmation.CONFIRM_FRAMES = 1
    try:
        return {name: run_tracker(clip, tracking) for name, clip in clips.items()}
    finally:
        confirmation.CONFIRM_FRAMES = needed


def short_tracks_on_long_ones(frames: list[FrameResult], lengths: dict[int, int], reach: int = 3) -> int:
    """Short tracks (<= 2 frames) with a face on a longer track's face (overlap >= 0.5) within +-reach frames:
    pieces of someone already tracked, rather than false faces elsewhere in the frame."""
    short = {track_id for track_id, n in lengths.items() if n <= tracking.FRAGMENT_MAX_FRAMES}
    found = set()
    for position, frame in enumerate(frames):
        for face in (face for face in frame.faces if face.track_id in short):
            nearby = frames[max(position - reach, 0) : position + reach + 1]
            if any(
                other.track_id not in short and overlap(face.box, other.box) >= 0.5
                for near in nearby
                for other in near.faces
            ):
                found.add(face.track_id)
    return len(found)


def main_person_aggregates(frames: list[FrameResult], track_id: int | None) -> dict[str, str | None]:
    """The main person's label by several aggregates of their faces' P(female)."""
    p = np.array([f.p_female for frame in frames for f in frame.faces if f.track_id == track_id])
    if track_id is None or not p.size:
        return {name: None for name in ("mean", "median", "mean_log_odds", "robust")}
    log_odds = np.log(np.clip(p, 0.01, 0.99) / (1 - np.clip(p, 0.01, 0.99)))
    return {
        "mean": label_for(float(p.mean())),
        "median": label_for(float(np.median(p))),
        "mean_log_odds": label_for(float(1 / (1 + np.exp(-log_odds.mean())))),
        "robust": label_for(tracking.robust_p_female(p)[0]),
    }


def descriptor_separation(clips: dict[str, dict[str, np.ndarray]], baseline) -> dict[str, float]:
    """AUC of descriptor distance: same face in consecutive frames (baseline tracks) vs two faces of one frame."""
    describers = {
        f"blocks{side}": lambda thumbs, side=side: _standardise(tracking.block_means(thumbs, side))
        for side in (4, 5, 10)
    }
    describers["pca20"] = None
    same: dict[str, list[float]] = {name: [] for name in describers}
    other: dict[str, list[float]] = {name: [] for name in describers}
    for clip in clips.values():
        frames = frames_of(clip)
        baseline.assign_tracks(frames)
        ids = np.array([face.track_id for frame in frames for face in frame.faces])
        position = clip["frame"]
        for name, describe_with in describers.items():
            vectors = clip["pca"] / 10.0 if describe_with is None else describe_with(clip["thumb"])
            for a in range(len(ids)):
                for b in range(a + 1, min(a + 8, len(ids))):
                    gap = position[b] - position[a]
                    distance = float(np.sqrt(np.mean((vectors[a] - vectors[b]) ** 2)))
                    if gap == 0:
                        other[name].append(distance)
                    elif gap == 1 and ids[a] == ids[b]:
                        same[name].append(distance)
    chosen = f"blocks{tracking.DESCRIPTOR_SIDE}"  # the tracker's own: where its gates sit against these
    quantiles = {
        "same_face_p50_p95_p99": np.percentile(same[chosen], [50, 95, 99]).round(3).tolist(),
        "two_faces_p1_p5_p50": np.percentile(other[chosen], [1, 5, 50]).round(3).tolist(),
    }
    auc = {f"auc_{name}": _auc(other[name], same[name]) for name in describers}
    return auc | quantiles | {"pairs_same": len(same[chosen]), "pairs_two_faces": len(other[chosen])}


def _standardise(values: np.ndarray) -> np.ndarray:
    centred = values - values.mean(axis=1, keepdims=True)
    return centred / np.maximum(centred.std(axis=1, keepdims=True), 1e-9)


def _auc(higher: list[float], lower: list[float]) -> float:
    """P(a value of ``higher`` exceeds one of ``lower``), ties counting half."""
    if not higher or not lower:
        return float("nan")
    return float(roc_auc_score([1] * len(higher) + [0] * len(lower), list(higher) + list(lower)))


def totals(rows: dict[str, dict], truth: dict[str, str]) -> dict[str, float]:
    """The bars' figures over all clips (one-person and label figures over the clips labelled male/female)."""
    labelled = [name for name in rows if truth[name] in LABELLED]
    tracks = sum(row["tracks"] for row in rows.values())
    raw = [step for row in rows.values() for step in row["raw_steps"]]
    short = sum(row["short_tracks"] for row in rows.values())
    figures = {
        "tracks": tracks,
        "short_track_share": short / max(tracks, 1),
        "unconfirmed": sum(row["unconfirmed"] for row in rows.values()),
        "short_tracks_on_long_ones": sum(row["short_tracks_on_long_ones"] for row in rows.values()),
        "persons_median": statistics.median(row["persons"] for row in rows.values()),
        "persons_mean": statistics.mean(row["persons"] for row in rows.values()),
        "one_person_clips": len(labelled),
        "one_person_clips_listing_one": sum(rows[name]["persons"] == 1 for name in labelled),
        "delta_p_raw_mean": float(np.mean(raw)),
        "delta_p_raw_clip_median": statistics.median(float(np.mean(r["raw_steps"] or [0])) for r in rows.values()),
        "labels_agreeing": sum(rows[name]["label"] == truth[name] for name in labelled),
        "frames_with_faces_share": sum(r["frames_with_faces"] for r in rows.values())
        / sum(r["frames"] for r in rows.values()),
    }
    if all("smoothed_steps" in row for row in rows.values()):
        figures["main_person_frame_share"] = sum(rows[name]["main_person_frames"] for name in labelled) / sum(
            rows[name]["frames"] for name in labelled
        )
        smoothed = [step for row in rows.values() for step in row["smoothed_steps"]]
        figures["delta_p_smoothed_mean"] = float(np.mean(smoothed))
        figures["delta_p_smoothed_clip_median"] = statistics.median(
            float(np.mean(r["smoothed_steps"] or [0])) for r in rows.values()
        )
        for aggregate in ("mean", "median", "mean_log_odds", "robust"):
            figures[f"labels_agreeing_{aggregate}"] = sum(
                rows[name]["aggregates"][aggregate] == truth[name] for name in labelled
            )
    return figures


def profile_figures(clips: dict[str, dict[str, np.ndarray]], truth: dict[str, str]) -> dict[str, float]:
    """What the profile prototype adds on the one-person clips: frames found, where its faces go, their labels."""
    found = found_with_profile = frames = triggered = profile_faces = in_main = right = 0
    frontal_right = frontal_faces = 0
    for name, clip in clips.items():
        if truth[name] not in LABELLED:
            continue
        frames += len(clip["index"])
        frontal = set(clip["frame"].tolist())
        found += len(frontal)
        found_with_profile += len(frontal | set(clip["profile_frame"].astype(int).tolist()))
        triggered += len(clip["triggered"])
        tracked = frames_of(clip, with_profile=True)
        tracking.assign_tracks(tracked)
        main = tracking.summarize_video(tracked).main_track_id
        faces = [face for frame in tracked for face in frame.faces]
        profile_set = {
            (int(position), tuple(int(v) for v in box))
            for position, box in zip(clip["profile_frame"], clip["profile_box"], strict=True)
        }
        for position, frame in enumerate(tracked):
            for face in frame.faces:
                is_profile = (position, (face.box.x, face.box.y, face.box.w, face.box.h)) in profile_set
                profile_faces += is_profile
                in_main += is_profile and face.track_id == main
                right += is_profile and face.label == truth[name]
        frontal_faces += len(faces)
        frontal_right += sum(face.label == truth[name] for face in faces)
    frontal_faces -= profile_faces
    frontal_right -= right
    return {
        "frames": frames,
        "found_share_frontal": found / frames,
        "found_share_with_profile": found_with_profile / frames,
        "triggered_frames": triggered,
        "profile_faces": profile_faces,
        "profile_faces_in_main_person_share": in_main / max(profile_faces, 1),
        "profile_faces_label_right_share": right / max(profile_faces, 1),
        "frontal_faces_label_right_share": frontal_right / max(frontal_faces, 1),
    }


ROWS = (
    ("short_track_share", "tracks of <= 2 frames, share of all tracks", "{:.1%}"),
    ("tracks", "tracks (all clips)", "{}"),
    ("unconfirmed", "detections not confirmed (no track)", "{}"),
    ("short_tracks_on_long_ones", "  short tracks lying on a longer track's face", "{}"),
    ("persons_median", "persons listed per clip, median", "{}"),
    ("persons_mean", "persons listed per clip, mean", "{:.2f}"),
    ("one_person_clips_listing_one", "one-person clips listing exactly one person", "{}"),
    ("delta_p_raw_mean", "mean |dP(female)| per person frame to frame, raw", "{:.4f}"),
    ("delta_p_raw_clip_median", "  same, median of the per-clip means", "{:.4f}"),
    ("delta_p_smoothed_mean", "mean |dP(female)| per person, smoothed curve", "{:.4f}"),
    ("delta_p_smoothed_clip_median", "  same, median of the per-clip means", "{:.4f}"),
    ("frames_with_faces_share", "frames with a face found, share", "{:.4f}"),
    ("main_person_frame_share", "labelled clips: frames the main person is tracked in", "{:.4f}"),
    ("labels_agreeing", "video label agrees with GENDER_LABELS.csv", "{}"),
    ("labels_agreeing_mean", "  main person by plain mean P(female)", "{}"),
    ("labels_agreeing_median", "  main person by median P(female)", "{}"),
    ("labels_agreeing_mean_log_odds", "  main person by mean log-odds", "{}"),
    ("labels_agreeing_robust", "  main person by interquartile mean log-odds", "{}"),
)


def print_table(columns: dict[str, dict[str, float]]) -> None:
    """One line per figure, one column per variant."""
    print(f"{'figure':<52}" + "".join(f"{name:>18}" for name in columns))
    for key, text, style in ROWS:
        cells = [style.format(figures[key]) if key in figures else "-" for figures in columns.values()]
        print(f"{text:<52}" + "".join(f"{cell:>18}" for cell in cells))


def side_by_side(name: str, figures: dict, model_dirs: list[Path], others: list[dict], truth: dict) -> dict[str, dict]:
    """The current tracker's figures with each model (the first already measured), printed as one table."""
    columns = {name: figures}
    for directory, clips in zip(model_dirs, others, strict=True):
        columns[cached_model(directory).name] = totals({n: run_tracker(c, tracking) for n, c in clips.items()}, truth)
    if len(columns) > 1:
        print("\nthe current tracker with each model:")
        print_table(columns)
    return columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_videos = Path(os.environ.get("GENREC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "videos"
    parser.add_argument("--videos", type=Path, default=default_videos)
    parser.add_argument("--model", type=Path, help="model folder (default: the shipped one)")
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="*",
        default=[],
        metavar="MODEL",
        help="more model folders: the current tracker"
        " with each, side by side (one decode and detection per clip serves every model)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="processes analysing clips not cached yet (default 2)")
    parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / "var" / "bench-tracks")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    with (args.videos / "GENDER_LABELS.csv").open(newline="") as handle:
        truth = {row["file"]: row["gender_apparent"] for row in csv.DictReader(handle)}
    model_dirs = [args.model or default_model_dir(), *args.compare]
    model = cached_model(model_dirs[0])  # loaded once per process: load_clips and side_by_side take it again
    clips, *others = load_clips(args.videos, sorted(truth), args.cache_dir, model_dirs, args.jobs)
    baseline = baseline_tracking(args.baseline_rev)
    start = time.perf_counter()
    runs = {
        f"baseline {args.baseline_rev}": {name: run_tracker(clip, baseline) for name, clip in clips.items()},
        "new": {name: run_tracker(clip, tracking) for name, clip in clips.items()},
        "new, all tracked": every_detection_tracked(clips),
        "new, no looks": {name: run_tracker(clip, tracking, descriptors=False) for name, clip in clips.items()},
        "new+profile": {name: run_tracker(clip, tracking, True) for name, clip in clips.items()},
    }
    seconds = time.perf_counter() - start
    columns = {name: totals(rows, truth) for name, rows in runs.items()}
    print_table(columns)
    profile = profile_figures(clips, truth)
    separation = descriptor_separation(clips, baseline)
    print("profile prototype on the one-person clips:", json.dumps(profile, indent=1))
    print("descriptor AUC (two faces of one frame vs one face in consecutive frames):", json.dumps(separation))
    print(f"{len(clips)} clips, {sum(len(c['index']) for c in clips.values())} frames; five runs in {seconds:.1f} s")
    models = side_by_side(model.name, columns["new"], model_dirs[1:], others, truth)
    if args.json:
        per_clip = {
            name: {
                variant: {k: v for k, v in rows[name].items() if not k.endswith("steps")}
                for variant, rows in runs.items()
            }
            for name in clips
        }
        document = {"model": model.name, "totals": columns, "profile": profile, "descriptors": separation}
        document["models"] = models
        document["labelled_clips"] = sum(truth[name] in LABELLED for name in clips)
        args.json.write_text(json.dumps(document | {"clips": per_clip}, indent=2) + "\n")


if __name__ == "__main__":
    main()
