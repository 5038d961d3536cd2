"""What the study report page shows, built from a finished study's document (study.json, kept as its summary).

A new study table starts in the pipeline's study report; its web rows are built here, never in the view.
"""

from __future__ import annotations

from workers.pipeline.study import CATEGORIES
from workers.pipeline.study.report import GENDER_WORDS, PAPER_TABLES, TABLE_NUMBERS
from workers.pipeline.study.runs import compare_runs, same_videos

from .formatting import MISSING, interval, number, signed


def _published(category: str, ethnicity: str, gender: str) -> str:
    published = PAPER_TABLES.get(category, {}).get((ethnicity, gender))
    return MISSING if published is None else f"{published[0]:.2f} ± {published[1]:.2f}"


def study_report(document: dict) -> dict | None:
    """What the report page shows, from a finished study's document; None when it holds no tables."""
    cells = document.get("cells") or []
    if not cells:
        return None
    tables = []
    for category in CATEGORIES:
        members = [cell for cell in cells if cell["category"] == category]
        if members:
            table_number = TABLE_NUMBERS.get(category)
            title = f"Table {table_number} — {category}" if table_number else f"Additional table — {category}"
            tables.append({"title": title, "rows": [_cell_row(category, cell) for cell in members]})
    comparisons = document.get("comparisons") or []
    return {
        "settings": document.get("settings") or {},
        "tables": tables,
        "comparison_rows": [_comparison_row(item) for item in comparisons],
        "sentences": [item["sentence"] for item in comparisons],
        "comparison": (document.get("settings") or {}).get("comparison") or [],
        "left_out": [
            {"path": row["path"], "reason": row["error"] or "no face found in the analysed frames"}
            for row in document.get("videos") or []
            if row.get("confidence_pct") is None
        ],
        "definitions": document.get("definitions") or {},
    }


def _cell_row(category: str, cell: dict) -> dict:
    """One row of Table 1 or 2: a cell's figures beside the published ones."""
    return {
        "ethnicity": cell["ethnicity"],
        "gender": GENDER_WORDS[cell["gender"]],
        "videos": cell["videos_sampled"],
        "with_faces": cell["videos_with_faces"],
        "left_out": cell["videos_without_faces"] + cell["videos_failed"],
        "mean": number(cell["mean_confidence_pct"]),
        "mean_ci": interval(cell["mean_ci"]),
        "std": number(cell["std_confidence_pct"]),
        "accuracy": number(None if cell["accuracy"] is None else 100 * cell["accuracy"], 1),
        "accuracy_ci": interval(cell["accuracy_ci"], 1, 100),
        "published": _published(category, cell["ethnicity"], cell["gender"]),
    }


def _comparison_row(item: dict) -> dict:
    """One row of the real-vs-fake table."""
    return {
        "ethnicity": item["ethnicity"],
        "gender": GENDER_WORDS[item["gender"]],
        "real_videos": item["real_videos"],
        "fake_videos": item["fake_videos"],
        "real_mean": number(item["real_mean_pct"]),
        "fake_mean": number(item["fake_mean_pct"]),
        "difference": signed(item["difference_pct"]),
        "difference_ci": interval(item["difference_ci"]),
        "p_value": number(item["p_value"], 3),
    }


def published_study_tables() -> list[dict]:
    """The study's published Tables 1 and 2 (mean ± sample std of per-video confidence, %), for the Concept page."""
    return [
        {
            "title": f"Table {TABLE_NUMBERS[category]} — {category}",
            "rows": [
                {"ethnicity": ethnicity, "gender": GENDER_WORDS[gender], "mean": mean, "std": std}
                for (ethnicity, gender), (mean, std) in table.items()
            ],
        }
        for category, table in PAPER_TABLES.items()
    ]


def _mean_with_interval(mean: float | None, bounds: tuple[float, float] | None) -> str:
    return MISSING if mean is None else f"{number(mean)} ({interval(bounds)})"


def runs_comparison(document: dict, other: dict) -> dict:
    """Two finished studies side by side, cell by cell: both means with their intervals and this minus the other."""
    rows = []
    for pair in compare_runs(other, document):
        rows.append(
            {
                "category": pair.category,
                "ethnicity": pair.ethnicity,
                "gender": GENDER_WORDS[pair.gender],
                "other_mean": _mean_with_interval(pair.means[0], pair.intervals[0]),
                "this_mean": _mean_with_interval(pair.means[1], pair.intervals[1]),
                "difference": signed(pair.difference),
                "interval_shift": number(pair.interval_shift),
            }
        )
    return {"rows": rows, "same_videos": same_videos(other, document), "settings": other.get("settings") or {}}
