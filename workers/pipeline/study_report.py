"""The study's report writer under its former name; it lives in workers.pipeline.study.report."""

from .study.report import (  # noqa: F401 - re-exported for the callers of the former module
    CATEGORY_COLORS,
    GENDER_WORDS,
    PAPER_TABLES,
    TABLE_NUMBERS,
    draw_cell_bars,
    draw_confidence_histogram,
    study_markdown,
    write_study,
    write_video_csv,
)
