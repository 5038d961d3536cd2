"""manage.py run_study on a FakeAVCeleb-shaped tree built from the shared clips, checked against the Analyzer."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from scipy import stats

from workers.management.commands.run_study import DEFAULT_EVERY_N_FRAMES
from workers.pipeline.analysis import Analyzer
from workers.pipeline.config import DEFAULT_DETECTION
from workers.pipeline.model import MANIFEST_FILE, default_model_dir, load_model
from workers.pipeline.study import FAKE_FAKE, REAL_REAL, normalize_ethnicity
from workers.pipeline.summary import track_and_summarize
from workers.pipeline.types import FEMALE, MALE
from workers.pipeline.video import probe

REPO_ROOT = Path(__file__).resolve().parents[2]
ETHNICITY_FOLDERS = ("African", "Asian_East", "Caucasian_American")  # assigned round-robin: the clips have none
GENDER_FOLDERS = {MALE: "men", FEMALE: "women"}
EVERY_N_FRAMES, MAX_FRAMES, PER_GROUP = 10, 3, 2


@pytest.fixture(scope="module")
def model_dir() -> Path:
    directory = default_model_dir()
    if not (directory / MANIFEST_FILE).is_file():
        pytest.skip(f"no trained model at {directory} (the study needs the shipped model)")
    return directory


def build_fakeavceleb_tree(videos_dir: Path, root: Path) -> Counter[tuple[str, str, str]]:
    """Link every clip with a male/female label into RealVideo-RealAudio or FakeVideo-FakeAudio; count per cell."""
    with (videos_dir / "MANIFEST.csv").open(newline="") as handle:
        real_or_fake = {row["file"]: row["real_or_fake"] for row in csv.DictReader(handle)}
    with (videos_dir / "GENDER_LABELS.csv").open(newline="") as handle:
        genders = {row["file"]: row["gender_apparent"] for row in csv.DictReader(handle)}
    cells: Counter[tuple[str, str, str]] = Counter()
    seen: Counter[tuple[str, str]] = Counter()
    for index, name in enumerate(sorted(genders)):
        gender = genders[name]
        if gender not in GENDER_FOLDERS:  # 'multiple' and 'uncertain' have no ground truth
            continue
        category = REAL_REAL if real_or_fake[name] == "real" else FAKE_FAKE
        ethnicity = ETHNICITY_FOLDERS[seen[(category, gender)] % len(ETHNICITY_FOLDERS)]
        seen[(category, gender)] += 1
        target = root / category / ethnicity / GENDER_FOLDERS[gender] / f"id{index:05d}" / name
        target.parent.mkdir(parents=True)
        target.symlink_to(videos_dir / name)
        cells[(category, normalize_ethnicity(ethnicity), gender)] += 1
    return cells


@pytest.fixture(scope="module")
def study_run(shared_data, model_dir, tmp_path_factory):
    """One run of the command over the whole tree: 2 videos a cell, 3 frames a video, 2 processes."""
    root, out = tmp_path_factory.mktemp("FakeAVCeleb"), tmp_path_factory.mktemp("study")
    tree = build_fakeavceleb_tree(shared_data / "videos", root)
    stdout = io.StringIO()
    call_command(
        "run_study", str(root), "--per-group", str(PER_GROUP), "--every-n-frames", str(EVERY_N_FRAMES),
        "--max-frames", str(MAX_FRAMES), "--jobs", "2", "--detection", "default", "--out", str(out),
        stdout=stdout, stderr=io.StringIO(),
    )  # fmt: skip
    return root, out, tree, json.loads((out / "study.json").read_text()), stdout.getvalue()


@pytest.fixture(scope="module")
def figures(study_run, model_dir) -> dict[str, tuple[str, float] | None]:
    """Per sampled video, from the Analyzer in this process: its main person's (label, P(label) x 100), or None."""
    root, _, _, document, _ = study_run
    paths = [row["path"] for row in document["videos"]]
    analyzer = Analyzer(model=load_model(model_dir), detection=DEFAULT_DETECTION)
    figures = {}
    for path in paths:
        result = analyzer.analyze_video(root / path, every_n_frames=EVERY_N_FRAMES, max_frames=MAX_FRAMES)
        summary = track_and_summarize(result).summary
        faces = [face for frame in result.frames for face in frame.faces]
        if not faces:
            figures[path] = None
            continue
        # The main person's robust P(female); with no face confirmed as a track (3 sightings), the mean of all.
        tracks = [track for track in summary.persons + summary.fragments if track.track_id == summary.main_track_id]
        p_female = tracks[0].p_female if tracks else statistics.fmean(face.p_female for face in faces)
        label = FEMALE if p_female >= 0.5 else MALE
        figures[path] = (label, 100 * (p_female if label == FEMALE else 1 - p_female))
    return figures


def test_run_study_samples_up_to_n_videos_of_every_cell(study_run):
    root, out, tree, document, _ = study_run

    with (out / "study.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    sampled = Counter((row["category"], row["ethnicity"], row["gender"]) for row in rows)

    assert sampled == {cell: min(PER_GROUP, count) for cell, count in tree.items()}
    assert any(count > PER_GROUP for count in tree.values())  # the sample really leaves videos out
    assert all((root / row["path"]).is_file() for row in rows)
    assert {
        (cell["category"], cell["ethnicity"], cell["gender"]): cell["videos_in_tree"] for cell in document["cells"]
    } == tree
    assert [row["path"] for row in rows] == [row["path"] for row in document["videos"]]
    assert {int(row["frames_analyzed"]) for row in rows if not row["error"]} <= set(range(1, MAX_FRAMES + 1))


def test_run_study_cell_figures_match_the_analyzer(study_run, figures):
    document = study_run[3]

    for cell in document["cells"]:
        members = [
            row["path"]
            for row in document["videos"]
            if (row["category"], row["ethnicity"], row["gender"])
            == (cell["category"], cell["ethnicity"], cell["gender"])
        ]
        found = [figures[path] for path in members if figures[path] is not None]
        confidences = [confidence for _, confidence in found]
        assert cell["videos_with_faces"] == len(found)
        assert cell["videos_without_faces"] == len(members) - len(found)
        if confidences:
            assert cell["mean_confidence_pct"] == pytest.approx(statistics.fmean(confidences))
            assert cell["accuracy"] == pytest.approx(statistics.fmean(label == cell["gender"] for label, _ in found))
        if len(confidences) >= 2:
            assert cell["std_confidence_pct"] == pytest.approx(statistics.stdev(confidences))
            low, high = cell["mean_ci"]
            # A bootstrap mean never leaves the range of the data (1e-9: float rounding of the resampled means).
            assert min(confidences) - 1e-9 <= low <= cell["mean_confidence_pct"] <= high <= max(confidences) + 1e-9
    assert sum(cell["videos_with_faces"] for cell in document["cells"]) > len(document["cells"])  # faces were found


def test_run_study_compares_real_and_fake_per_group(study_run, figures):
    _, out, _, document, stdout = study_run

    for comparison in document["comparisons"]:
        real, fake = (
            [
                figures[row["path"]][1]
                for row in document["videos"]
                if row["category"] == category
                and (row["ethnicity"], row["gender"]) == (comparison["ethnicity"], comparison["gender"])
                and figures[row["path"]] is not None
            ]
            for category in (REAL_REAL, FAKE_FAKE)
        )
        assert (comparison["real_videos"], comparison["fake_videos"]) == (len(real), len(fake))
        if len(real) >= 2 and len(fake) >= 2:
            assert comparison["difference_pct"] == pytest.approx(statistics.fmean(fake) - statistics.fmean(real))
            assert comparison["p_value"] == pytest.approx(stats.ttest_ind(fake, real, equal_var=False).pvalue)
            assert "p = " in comparison["sentence"]
        assert comparison["sentence"] in stdout
    markdown = (out / "study.md").read_text()
    assert "## Table 1 — RealVideo-RealAudio" in markdown and "## Table 2 — FakeVideo-FakeAudio" in markdown
    for name in ("study.png", "confidence_hist.png"):
        assert (out / name).stat().st_size > 10_000


def test_run_study_without_the_layout_is_a_clear_error(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"")

    with pytest.raises(CommandError, match="no FakeAVCeleb video under"):
        call_command("run_study", str(tmp_path), "--out", str(tmp_path / "out"), stderr=io.StringIO())
    with pytest.raises(CommandError, match="not a FakeAVCeleb category"):
        call_command("run_study", str(tmp_path), "--categories", "Cartoons", stderr=io.StringIO())


def test_manage_py_run_study_runs_with_debug_on(shared_data, model_dir, tmp_path):
    videos = shared_data / "videos"
    for relative, clip in (
        ("RealVideo-RealAudio/Asian_South/men/id00001/a.mp4", "ffpp_c40_original_youtube_183.mp4"),
        ("FakeVideo-FakeAudio/Asian_South/men/id00001/b.mp4", "ffpp_c40_Deepfakes_183_253.mp4"),
    ):
        (tmp_path / "root" / relative).parent.mkdir(parents=True)
        (tmp_path / "root" / relative).symlink_to(videos / clip)
    environment = {
        key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }

    completed = subprocess.run(
        [sys.executable, "manage.py", "run_study", str(tmp_path / "root"), "--max-frames", "2", "--jobs", "1",
         "--out", str(tmp_path / "out")],
        cwd=REPO_ROOT, env={**environment, "DEBUG": "1", "GENREC_MODEL_DIR": str(model_dir)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr
    assert "Asian (South) men: " in completed.stdout
    [row] = [row for row in csv.DictReader((tmp_path / "out" / "study.csv").open()) if row["category"] == REAL_REAL]
    assert row["ethnicity"] == "Asian (South)" and int(row["frames_analyzed"]) == 2


def test_run_study_defaults_say_their_duration_first_and_compare_with_another_run(study_run, tmp_path):
    root, out, _, other, _ = study_run
    stdout = io.StringIO()

    call_command(
        "run_study", str(root), "--per-group", str(PER_GROUP), "--max-frames", str(MAX_FRAMES), "--jobs", "2",
        "--against", str(out / "study.json"), "--out", str(tmp_path / "again"), stdout=stdout, stderr=io.StringIO(),
    )  # fmt: skip

    document = json.loads((tmp_path / "again" / "study.json").read_text())
    assert document["settings"]["every_n_frames"] == DEFAULT_EVERY_N_FRAMES
    assert document["settings"]["detection"] == asdict(DEFAULT_DETECTION)
    lines = stdout.getvalue().splitlines()
    # First, before any video: the frames the sampled videos will be read up to, from a probe of each.
    frames = sum(
        min(probe(root / row["path"]).frame_count, MAX_FRAMES * DEFAULT_EVERY_N_FRAMES) for row in document["videos"]
    )
    heading = f"{len(document['videos'])} videos, {frames} frames to read: expected about "
    assert re.fullmatch(re.escape(heading) + r"\d+\.\d min .*", lines[0]), lines[0]
    # Then, per cell, the other run and this one side by side with this minus the other.
    mine = {(cell["category"], cell["ethnicity"], cell["gender"]): cell for cell in document["cells"]}
    for cell in other["cells"]:
        key = (cell["category"], cell["ethnicity"], cell["gender"])
        if cell["mean_confidence_pct"] is None or mine[key]["mean_confidence_pct"] is None:
            continue
        difference = mine[key]["mean_confidence_pct"] - cell["mean_confidence_pct"]
        [line] = [line for line in lines if line.startswith(" ".join(key) + ": ") and " | " in line]
        assert f": {cell['mean_confidence_pct']:.2f}" in line.split(" | ")[0]
        assert line.split(" | ")[2].startswith(f"{difference:+.2f}")
