"""The deepfake study: read a FakeAVCeleb tree, analyse a fixed-seed sample per cell, compare real and fake.

layout (the tree and the sample) -> analysis (one row per video) -> aggregation (per-cell figures, the result)
with statistics (real vs fake) -> report (study.json/csv/md/png, imported from workers.pipeline.study.report so
that reading a tree does not load matplotlib). run.run_study does all of it for a folder.
"""

from .aggregation import DEFINITIONS, CellStats, StudyResult, StudySettings, summarize_cells, summarize_study
from .analysis import DETECTION_PRESETS, AnalysisOptions, StudyVideoRow, analyze_study_video, analyze_study_videos
from .layout import (
    CATEGORIES,
    DEFAULT_CATEGORIES,
    DEFAULT_COMPARISON,
    DEFAULT_PER_GROUP,
    DEFAULT_SEED,
    ETHNICITIES,
    FAKE_FAKE,
    FAKE_REAL_AUDIO,
    GENDERS,
    METADATA_FILE,
    REAL_FAKE_AUDIO,
    REAL_REAL,
    VIDEO_SUFFIX,
    VIDEO_SUFFIXES,
    StudyLayoutError,
    StudyVideo,
    find_study_videos,
    normalize_category,
    normalize_ethnicity,
    normalize_gender,
    read_metadata,
    sample_per_cell,
    study_video_from_path,
)
from .run import run_study
from .statistics import SIGNIFICANCE_LEVEL, CellComparison, compare_real_fake, describe_comparison

__all__ = [
    "CATEGORIES",
    "DEFAULT_CATEGORIES",
    "DEFAULT_COMPARISON",
    "DEFAULT_PER_GROUP",
    "DEFAULT_SEED",
    "DEFINITIONS",
    "DETECTION_PRESETS",
    "ETHNICITIES",
    "FAKE_FAKE",
    "FAKE_REAL_AUDIO",
    "GENDERS",
    "METADATA_FILE",
    "REAL_FAKE_AUDIO",
    "REAL_REAL",
    "SIGNIFICANCE_LEVEL",
    "VIDEO_SUFFIX",
    "VIDEO_SUFFIXES",
    "AnalysisOptions",
    "CellComparison",
    "CellStats",
    "StudyLayoutError",
    "StudyResult",
    "StudySettings",
    "StudyVideo",
    "StudyVideoRow",
    "analyze_study_video",
    "analyze_study_videos",
    "compare_real_fake",
    "describe_comparison",
    "find_study_videos",
    "normalize_category",
    "normalize_ethnicity",
    "normalize_gender",
    "read_metadata",
    "run_study",
    "sample_per_cell",
    "study_video_from_path",
    "summarize_cells",
    "summarize_study",
]
