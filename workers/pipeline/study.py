"""The deepfake study: read a FakeAVCeleb tree, analyse a fixed-seed sample per cell, compare real and fake.

A cell is category x ethnicity x gender. The folder's gender (men/women) is the ground truth.

The per-video figure is ``confidence_pct``: over every face found in the video's analysed frames, the
mean of the model's probability for the gender predicted for the whole video (the video is "female"
when the mean p_female over its faces is >= 0.5), times 100. Videos in which no face was found have no
such figure: they are counted per cell and left out of every mean, standard deviation and accuracy.
"""

from __future__ import annotations

import csv
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from scipy import stats

from .analysis import Analyzer
from .config import DEFAULT_DETECTION, STUDY_DETECTION, DetectionSettings
from .errors import AnalysisCancelled, PipelineError
from .model import GenderModel, default_model_dir, load_model
from .types import FEMALE, MALE, FrameResult

logger = logging.getLogger(__name__)

REAL_REAL = "RealVideo-RealAudio"
REAL_FAKE_AUDIO = "RealVideo-FakeAudio"
FAKE_REAL_AUDIO = "FakeVideo-RealAudio"
FAKE_FAKE = "FakeVideo-FakeAudio"
CATEGORIES = (REAL_REAL, REAL_FAKE_AUDIO, FAKE_REAL_AUDIO, FAKE_FAKE)
ETHNICITIES = ("African", "Asian (East)", "Asian (South)", "Caucasian (American)", "Caucasian (European)")
GENDERS = (MALE, FEMALE)
DEFAULT_CATEGORIES = (REAL_REAL, FAKE_FAKE)  # the study's Tables 1 and 2
DEFAULT_COMPARISON = (REAL_REAL, FAKE_FAKE)
DEFAULT_PER_GROUP = 25  # videos per cell, as in the study
DEFAULT_SEED = 25
DEFAULT_BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE_LEVEL = 0.95
SIGNIFICANCE_LEVEL = 0.05
DETECTION_PRESETS = {"study": STUDY_DETECTION, "default": DEFAULT_DETECTION}
METADATA_FILE = "meta_data.csv"
VIDEO_SUFFIX = ".mp4"  # FakeAVCeleb's own files, and the files its meta_data.csv names
VIDEO_SUFFIXES = (VIDEO_SUFFIX, ".avi", ".mov", ".webm")  # what a folder walk picks up


def _name_key(name: str) -> str:
    """Letters only, lower case: 'Asian_East', 'Asian (East)' and 'asian-east' share one key."""
    return re.sub(r"[^a-z]", "", name.lower())


_CATEGORY_BY_KEY = {_name_key(name): name for name in CATEGORIES}
_ETHNICITY_BY_KEY = {_name_key(name): name for name in ETHNICITIES}
_GENDER_BY_KEY = {"men": MALE, "man": MALE, "male": MALE, "women": FEMALE, "woman": FEMALE, "female": FEMALE}


def normalize_category(name: str) -> str | None:
    """The canonical category name for a folder or CSV spelling, or None if it is not one."""
    return _CATEGORY_BY_KEY.get(_name_key(name))


def normalize_ethnicity(name: str) -> str | None:
    """The canonical ethnicity ('Asian (East)') for any spelling ('Asian_East'), or None."""
    return _ETHNICITY_BY_KEY.get(_name_key(name))


def normalize_gender(name: str) -> str | None:
    """'male' or 'female' for FakeAVCeleb's 'men'/'women' (and plain spellings), or None."""
    return _GENDER_BY_KEY.get(_name_key(name))


class StudyLayoutError(PipelineError):
    """A study root in which no FakeAVCeleb-shaped video could be found."""


@dataclass(frozen=True)
class StudyVideo:
    """One video of the tree with its cell; ``path`` is relative to the study root."""

    path: str
    category: str
    ethnicity: str
    gender: str  # ground truth from the men/women folder
    source_id: str = ""
    method: str = ""  # FakeAVCeleb's generation method, known only from meta_data.csv

    @property
    def cell(self) -> tuple[str, str, str]:
        return (self.category, self.ethnicity, self.gender)


def study_video_from_path(relative: Path, method: str = "") -> StudyVideo | None:
    """Label ``[...]/category/ethnicity/men|women[/id]/file.mp4`` (relative to the root) by its folders."""
    parts = relative.parts
    start = next((index for index, part in enumerate(parts[:-1]) if normalize_category(part)), None)
    if start is None or len(parts) - start < 4:
        return None
    category = normalize_category(parts[start])
    ethnicity, gender = normalize_ethnicity(parts[start + 1]), normalize_gender(parts[start + 2])
    if not (ethnicity and gender):
        return None
    source_id = parts[-2] if len(parts) - start >= 5 else ""
    return StudyVideo(relative.as_posix(), category, ethnicity, gender, source_id, method)


def _walk_layout(root: Path) -> list[StudyVideo]:
    videos = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file():
            continue
        video = study_video_from_path(path.relative_to(root))
        if video is None:
            logger.debug("not in the FakeAVCeleb layout, skipped: %s", path)
        else:
            videos.append(video)
    return videos


def _relative_from_category(location: str) -> Path | None:
    """Cut a metadata location ('FakeAVCeleb/RealVideo-RealAudio/African/...') at its category folder."""
    parts = Path(location.replace("\\", "/")).parts
    for index, part in enumerate(parts):
        if normalize_category(part):
            return Path(*parts[index:])
    return None


def read_metadata(root: Path, metadata_file: Path | None = None) -> list[StudyVideo]:
    """Read FakeAVCeleb's meta_data.csv, tolerating its quirks.

    Its header is ``source,target1,target2,method,category,type,race,gender,path,`` but each row has
    the file name under ``path`` and the folder ('FakeAVCeleb/<type>/<race>/<gender>/<id>') in the
    unnamed last column; other copies name them ``filename`` and ``path``. So the file is the value
    ending in .mp4 and the folder the other value containing a slash. When a row has no folder, the
    folder is rebuilt from type/race/gender/source. Rows whose file is not on disk are skipped.
    """
    metadata_file = metadata_file or root / METADATA_FILE
    videos, missing = [], 0
    with metadata_file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip().lower() for name in next(reader, [])]
        for values in reader:
            values = [value.strip() for value in values]
            named = dict(zip(header, values, strict=False))
            location = _metadata_location(values, named)
            if location is None:
                continue
            relative = _relative_from_category(location)
            video = _resolve_metadata_row(root, relative, named.get("method", "")) if relative else None
            if video is None:
                missing += 1
            else:
                videos.append(video)
    if missing:
        logger.warning("%d rows of %s name no video found under %s; skipped", missing, metadata_file.name, root)
    return sorted(videos, key=lambda video: video.path)


def _metadata_location(values: list[str], named: dict[str, str]) -> str | None:
    """The row's file as 'folder/file.mp4'; None for a row that names no video."""
    file_names = [value for value in values if value.lower().endswith(VIDEO_SUFFIX)]
    if not file_names:
        return None
    file_name = file_names[0]
    if "/" in file_name:
        return file_name
    folders = [value for value in values if "/" in value and not value.lower().endswith(VIDEO_SUFFIX)]
    if folders:
        return f"{folders[0]}/{file_name}"
    return "/".join([*(named.get(key, "") for key in ("type", "race", "gender", "source")), file_name])


def _resolve_metadata_row(root: Path, relative: Path, method: str) -> StudyVideo | None:
    """Find the row's file under any accepted spelling of its ethnicity folder ('Asian (East)', 'Asian_East')."""
    parts = relative.parts
    if len(parts) < 2:
        return None
    ethnicity = normalize_ethnicity(parts[1])
    spellings = [parts[1]] + ([ethnicity, ethnicity.replace(" (", "_").rstrip(")")] if ethnicity else [])
    for spelling in dict.fromkeys(spellings):
        candidate = Path(parts[0], spelling, *parts[2:])
        if (root / candidate).is_file():
            return study_video_from_path(candidate, method)
    return None


def find_study_videos(root: str | Path) -> list[StudyVideo]:
    """Every video of a FakeAVCeleb tree: from meta_data.csv when it names files present, else from the folders."""
    root = Path(root)
    if not root.is_dir():
        raise StudyLayoutError(f"the study root {str(root)!r} is not a folder")
    metadata_file = root / METADATA_FILE
    videos = read_metadata(root, metadata_file) if metadata_file.is_file() else []
    if not videos:  # no metadata, or one naming none of the files present (a partial copy): trust the folders
        videos = _walk_layout(root)
    if not videos:
        found = ", ".join(sorted(child.name for child in root.iterdir())[:10]) or "nothing"
        raise StudyLayoutError(
            f"no FakeAVCeleb video under {str(root)!r}: expected ROOT/<category>/<ethnicity>/<men|women>/<id>/*.mp4 "
            f"with category one of {', '.join(CATEGORIES)} and ethnicity one of {', '.join(ETHNICITIES)} "
            f"(or Asian_East-style spellings), or a meta_data.csv naming such files; found: {found}"
        )
    return videos


def sample_per_cell(videos: Iterable[StudyVideo], per_group: int, seed: int) -> list[StudyVideo]:
    """Up to ``per_group`` videos of each cell, drawn with a seed of their own per cell.

    Seeding each cell by its name keeps a cell's sample the same whatever other cells the tree holds.
    """
    by_cell: dict[tuple[str, str, str], list[StudyVideo]] = {}
    for video in sorted(videos, key=lambda video: video.path):
        by_cell.setdefault(video.cell, []).append(video)
    sampled = []
    for cell, members in sorted(by_cell.items()):
        chooser = random.Random(f"{seed}|{'|'.join(cell)}")
        sampled.extend(sorted(chooser.sample(members, min(per_group, len(members))), key=lambda video: video.path))
    return sampled


# ---- statistics -------------------------------------------------------------------------------------


def bootstrap_ci(
    values: Sequence[float],
    *,
    seed: int,
    resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES,
    level: float = CONFIDENCE_LEVEL,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean; None with fewer than two values (no spread to resample)."""
    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    return _percentile_interval(means, level)


def bootstrap_difference_ci(
    first: Sequence[float],
    second: Sequence[float],
    *,
    seed: int,
    resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES,
    level: float = CONFIDENCE_LEVEL,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of mean(second) - mean(first), each group resampled on its own."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.size < 2 or b.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means_a = a[rng.integers(0, a.size, size=(resamples, a.size))].mean(axis=1)
    means_b = b[rng.integers(0, b.size, size=(resamples, b.size))].mean(axis=1)
    return _percentile_interval(means_b - means_a, level)


def _percentile_interval(estimates: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)


def welch_test(first: Sequence[float], second: Sequence[float]) -> tuple[float, float] | None:
    """Welch's t statistic and two-sided p-value (unequal variances); None when a group has < 2 values."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.size < 2 or b.size < 2:
        return None
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread in either group: the t statistic is undefined
        return None
    result = stats.ttest_ind(b, a, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def sample_std(values: Sequence[float]) -> float | None:
    """Sample standard deviation (ddof=1, as the study's tables); None with fewer than two values."""
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None


# ---- analysis ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalysisOptions:
    """How each video is analysed: frame sampling, detection settings and which model."""

    every_n_frames: int = 1
    max_frames: int | None = None
    detection: DetectionSettings = STUDY_DETECTION
    model_dir: str | None = None  # None: the shipped default model


@dataclass
class StudyVideoRow:
    """What the study keeps of one analysed video (``confidence_pct``: see the module docstring)."""

    path: str
    category: str
    ethnicity: str
    gender: str
    source_id: str
    method: str
    predicted_label: str | None
    confidence_pct: float | None
    correct: bool | None
    face_frame_share: float | None  # frames with at least one face / frames analysed
    frames_analyzed: int
    frames_with_faces: int
    faces: int
    error: str = ""  # set when the video could not be read; such a video counts as failed

    @property
    def has_face(self) -> bool:
        return self.confidence_pct is not None


def _load_model(model_dir: str | None) -> GenderModel:
    return load_model(Path(model_dir) if model_dir else default_model_dir())


@lru_cache(maxsize=2)
def _analyzer(model_dir: str | None, detection: DetectionSettings) -> Analyzer:
    """One Analyzer per process (loky reuses its worker processes, so each loads the model once)."""
    return Analyzer(model=_load_model(model_dir), detection=detection)


def analyze_study_video(
    video: StudyVideo,
    root: str,
    options: AnalysisOptions,
    *,
    on_frame: Callable[[FrameResult, np.ndarray], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> StudyVideoRow:
    """Analyse one video and reduce it to the study's per-video row (a cancel raises AnalysisCancelled)."""
    analyzer = _analyzer(options.model_dir, options.detection)
    labels = asdict(video)
    try:
        result = analyzer.analyze_video(
            Path(root) / video.path,
            every_n_frames=options.every_n_frames,
            max_frames=options.max_frames,
            on_frame=on_frame,
            should_stop=should_stop,
        )
    except AnalysisCancelled:
        raise
    except PipelineError as error:
        logger.warning("%s: %s", video.path, error)
        return StudyVideoRow(
            **labels,
            predicted_label=None,
            confidence_pct=None,
            correct=None,
            face_frame_share=None,
            frames_analyzed=0,
            frames_with_faces=0,
            faces=0,
            error=str(error),
        )
    summary = result.summary
    has_face = summary.label is not None
    return StudyVideoRow(
        **labels,
        predicted_label=summary.label,
        confidence_pct=100 * summary.mean_confidence if has_face else None,
        correct=(summary.label == video.gender) if has_face else None,
        face_frame_share=summary.frames_with_faces / summary.frames_analyzed if summary.frames_analyzed else None,
        frames_analyzed=summary.frames_analyzed,
        frames_with_faces=summary.frames_with_faces,
        faces=summary.faces,
    )


def analyze_study_videos(
    videos: Sequence[StudyVideo],
    root: str | Path,
    options: AnalysisOptions,
    *,
    jobs: int = 1,
    on_video: Callable[[StudyVideoRow], None] | None = None,
) -> list[StudyVideoRow]:
    """Analyse the videos over ``jobs`` processes (loky), calling ``on_video`` as each one finishes."""
    parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
    rows = []
    for row in parallel(delayed(analyze_study_video)(video, str(root), options) for video in videos):
        rows.append(row)
        if on_video:
            on_video(row)
    return sorted(rows, key=lambda row: (row.category, row.ethnicity, row.gender, row.path))


# ---- aggregation ------------------------------------------------------------------------------------


@dataclass
class CellStats:
    """One cell's figures; means, std and accuracy use only the videos with a face."""

    category: str
    ethnicity: str
    gender: str
    videos_in_tree: int
    videos_sampled: int
    videos_with_faces: int
    videos_without_faces: int
    videos_failed: int
    mean_confidence_pct: float | None
    std_confidence_pct: float | None  # ddof=1
    mean_ci: tuple[float, float] | None
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None


@dataclass
class CellComparison:
    """Fake minus real mean confidence of one ethnicity x gender, with its interval and Welch test."""

    ethnicity: str
    gender: str
    real_category: str
    fake_category: str
    real_videos: int
    fake_videos: int
    real_mean_pct: float | None
    fake_mean_pct: float | None
    difference_pct: float | None
    difference_ci: tuple[float, float] | None
    welch_t: float | None
    p_value: float | None
    sentence: str


@dataclass
class StudySettings:
    """Everything needed to repeat a run."""

    root: str
    categories: list[str]
    comparison: list[str]
    per_group: int
    seed: int
    every_n_frames: int
    max_frames: int | None
    jobs: int
    detection: dict[str, Any]
    model: dict[str, Any]
    bootstrap_resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES
    confidence_level: float = CONFIDENCE_LEVEL


@dataclass
class StudyResult:
    """The whole run: settings, per-video rows, per-cell figures and the real-vs-fake comparisons."""

    settings: StudySettings
    videos: list[StudyVideoRow]
    cells: list[CellStats]
    comparisons: list[CellComparison]
    definitions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFINITIONS = {
    "confidence_pct": (
        "per video: mean over all faces found in its analysed frames of the model's probability for the "
        "video's predicted gender (female when the mean p_female over those faces is >= 0.5), x 100"
    ),
    "mean_confidence_pct": "per cell: mean of confidence_pct over the cell's videos with at least one face",
    "std_confidence_pct": "per cell: sample standard deviation (ddof=1) of confidence_pct, as in the study's tables",
    "accuracy": "per cell: share of videos with a face whose predicted gender equals the men/women folder",
    "intervals": "95% percentile bootstrap, fixed seed; none for fewer than two videos",
    "difference_pct": "fake category mean minus real category mean, in percentage points",
    "p_value": "Welch's two-sided t-test (scipy.stats.ttest_ind, equal_var=False) of fake vs real confidence_pct",
    "no_face": "videos with no face detected are counted (videos_without_faces) and excluded from all figures",
}


def _display_cell(ethnicity: str, gender: str) -> str:
    return f"{ethnicity} {'men' if gender == MALE else 'women'}"


def summarize_cells(
    rows: Sequence[StudyVideoRow],
    tree_counts: Counter[tuple[str, str, str]],
    *,
    seed: int,
    resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES,
) -> list[CellStats]:
    """Per category x ethnicity x gender: counts, mean, sample std, accuracy and bootstrap intervals."""
    cells = []
    for category, ethnicity, gender in sorted(tree_counts, key=_cell_order):
        members = [row for row in rows if (row.category, row.ethnicity, row.gender) == (category, ethnicity, gender)]
        with_face = [row for row in members if row.has_face]
        confidences = [row.confidence_pct for row in with_face]
        hits = [1.0 if row.correct else 0.0 for row in with_face]
        cells.append(
            CellStats(
                category=category,
                ethnicity=ethnicity,
                gender=gender,
                videos_in_tree=tree_counts[(category, ethnicity, gender)],
                videos_sampled=len(members),
                videos_with_faces=len(with_face),
                videos_without_faces=sum(1 for row in members if not row.has_face and not row.error),
                videos_failed=sum(1 for row in members if row.error),
                mean_confidence_pct=float(np.mean(confidences)) if confidences else None,
                std_confidence_pct=sample_std(confidences),
                mean_ci=bootstrap_ci(confidences, seed=seed, resamples=resamples),
                accuracy=float(np.mean(hits)) if hits else None,
                accuracy_ci=bootstrap_ci(hits, seed=seed, resamples=resamples),
            )
        )
    return cells


def _cell_order(cell: tuple[str, str, str]) -> tuple[int, int, int]:
    category, ethnicity, gender = cell
    return (CATEGORIES.index(category), ETHNICITIES.index(ethnicity), GENDERS.index(gender))


def compare_real_fake(
    rows: Sequence[StudyVideoRow],
    real_category: str,
    fake_category: str,
    *,
    seed: int,
    resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES,
) -> list[CellComparison]:
    """For each ethnicity x gender present in either category: fake minus real, bootstrap CI, Welch p."""
    groups = sorted(
        {(row.ethnicity, row.gender) for row in rows if row.category in (real_category, fake_category)},
        key=lambda group: (ETHNICITIES.index(group[0]), GENDERS.index(group[1])),
    )
    comparisons = []
    for ethnicity, gender in groups:
        real, fake = (
            [
                row.confidence_pct
                for row in rows
                if row.category == category and row.ethnicity == ethnicity and row.gender == gender and row.has_face
            ]
            for category in (real_category, fake_category)
        )
        difference = float(np.mean(fake) - np.mean(real)) if real and fake else None
        interval = bootstrap_difference_ci(real, fake, seed=seed, resamples=resamples)
        test = welch_test(real, fake)
        comparison = CellComparison(
            ethnicity=ethnicity,
            gender=gender,
            real_category=real_category,
            fake_category=fake_category,
            real_videos=len(real),
            fake_videos=len(fake),
            real_mean_pct=float(np.mean(real)) if real else None,
            fake_mean_pct=float(np.mean(fake)) if fake else None,
            difference_pct=difference,
            difference_ci=interval,
            welch_t=test[0] if test else None,
            p_value=test[1] if test else None,
            sentence="",
        )
        comparison.sentence = describe_comparison(comparison)
        comparisons.append(comparison)
    return comparisons


def describe_comparison(comparison: CellComparison) -> str:
    """One plain sentence with the numbers; 'distinguishable from noise' only when both CI and p say so."""
    name = _display_cell(comparison.ethnicity, comparison.gender)
    sizes = (
        f"{comparison.real_videos} videos per group"
        if comparison.real_videos == comparison.fake_videos
        else f"{comparison.real_videos} real and {comparison.fake_videos} fake videos"
    )
    if comparison.difference_pct is None or comparison.difference_ci is None or comparison.p_value is None:
        return f"{name}: too few videos with a face to compare ({sizes}; at least two per group are needed)."
    direction = "lower" if comparison.difference_pct < 0 else "higher"
    low, high = comparison.difference_ci
    numbers = f"(95% CI {low:.1f} to {high:.1f}, p = {_format_p(comparison.p_value)})"
    stem = f"{name}: confidence is {abs(comparison.difference_pct):.1f} points {direction} on fakes {numbers}"
    interval_excludes_zero = low > 0 or high < 0
    if comparison.p_value < SIGNIFICANCE_LEVEL and interval_excludes_zero:
        verdict = f"with {sizes} this difference is unlikely to be noise alone (before correcting for the other cells)"
    elif interval_excludes_zero:
        # Percentile bootstrap intervals are too narrow for a handful of videos; Welch's test is the stricter judge.
        verdict = (
            f"the bootstrap interval leaves out zero but Welch's test does not confirm it, so with {sizes} "
            "this difference is not distinguishable from noise"
        )
    else:
        verdict = f"this difference is not distinguishable from noise with {sizes}"
    return f"{stem}; {verdict}."


def _format_p(p_value: float) -> str:
    return "< 0.001" if p_value < 0.001 else f"{p_value:.2g}" if p_value < 0.01 else f"{p_value:.2f}"


# ---- the whole run ----------------------------------------------------------------------------------


def run_study(
    root: str | Path,
    *,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    comparison: tuple[str, str] = DEFAULT_COMPARISON,
    per_group: int = DEFAULT_PER_GROUP,
    seed: int = DEFAULT_SEED,
    options: AnalysisOptions | None = None,
    jobs: int | None = None,
    on_video: Callable[[StudyVideoRow], None] | None = None,
    on_sampled: Callable[[int], None] | None = None,
) -> StudyResult:
    """Find, sample, analyse and summarise; the categories of ``comparison`` are always analysed."""
    options = options or AnalysisOptions()
    jobs = jobs or len(os.sched_getaffinity(0))
    wanted = list(dict.fromkeys([*categories, *comparison]))
    unknown = [name for name in wanted if name not in CATEGORIES]
    if unknown:
        raise StudyLayoutError(f"unknown categories {unknown}; choose from {', '.join(CATEGORIES)}")
    root = Path(root)
    videos = [video for video in find_study_videos(root) if video.category in wanted]
    if not videos:
        raise StudyLayoutError(f"no video under {str(root)!r} in the categories {', '.join(wanted)}")
    model = _load_model(options.model_dir)  # fails early, before any worker starts, on a missing or altered model
    tree_counts = Counter(video.cell for video in videos)
    sampled = sample_per_cell(videos, per_group, seed)
    logger.info(
        "%d videos in %d cells; %d sampled (up to %d per cell)", len(videos), len(tree_counts), len(sampled), per_group
    )
    if on_sampled:
        on_sampled(len(sampled))
    rows = analyze_study_videos(sampled, root, options, jobs=jobs, on_video=on_video)
    settings = StudySettings(
        root=str(root),
        categories=wanted,
        comparison=list(comparison),
        per_group=per_group,
        seed=seed,
        every_n_frames=options.every_n_frames,
        max_frames=options.max_frames,
        jobs=jobs,
        detection=asdict(options.detection),
        model={"name": model.name, "sha256": model.sha256},
    )
    return summarize_study(settings, rows, tree_counts)


def summarize_study(
    settings: StudySettings, rows: list[StudyVideoRow], tree_counts: Counter[tuple[str, str, str]]
) -> StudyResult:
    """The whole result from the analysed rows: per-cell figures and the real-vs-fake comparisons."""
    return StudyResult(
        settings=settings,
        videos=rows,
        cells=summarize_cells(rows, tree_counts, seed=settings.seed),
        comparisons=compare_real_fake(rows, *settings.comparison, seed=settings.seed),
        definitions=dict(DEFINITIONS),
    )
