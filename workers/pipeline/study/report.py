"""Write a study run to disk: study.json, study.csv, study.md, study.png and confidence_hist.png."""

from __future__ import annotations

import csv
import json
from dataclasses import fields
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..types import FEMALE, MALE
from .aggregation import CellStats, StudyResult
from .analysis import StudyVideoRow
from .layout import CATEGORIES, ETHNICITIES, FAKE_FAKE, FAKE_REAL_AUDIO, GENDERS, REAL_FAKE_AUDIO, REAL_REAL
from .statistics import SIGNIFICANCE_LEVEL, CellComparison

# The study's published Tables 1 and 2 (mean ± sample std of per-video confidence, in %), for reference.
PAPER_TABLES: dict[str, dict[tuple[str, str], tuple[float, float]]] = {
    REAL_REAL: {
        ("African", MALE): (70.84, 7.78),
        ("African", FEMALE): (76.21, 10.30),
        ("Asian (East)", MALE): (72.56, 9.99),
        ("Asian (East)", FEMALE): (82.42, 12.95),
        ("Caucasian (American)", MALE): (75.35, 7.68),
        ("Caucasian (American)", FEMALE): (78.74, 9.96),
    },
    FAKE_FAKE: {
        ("African", MALE): (67.51, 8.75),
        ("African", FEMALE): (72.93, 12.89),
        ("Asian (East)", MALE): (68.66, 8.27),
        ("Asian (East)", FEMALE): (81.27, 12.80),
        ("Caucasian (American)", MALE): (78.50, 11.04),
        ("Caucasian (American)", FEMALE): (76.58, 11.17),
    },
}
TABLE_NUMBERS = {REAL_REAL: 1, FAKE_FAKE: 2}
CATEGORY_COLORS = {
    REAL_REAL: "#2a6f97",
    REAL_FAKE_AUDIO: "#8ab17d",
    FAKE_REAL_AUDIO: "#e9c46a",
    FAKE_FAKE: "#d1495b",
}
GENDER_WORDS = {MALE: "men", FEMALE: "women"}


def write_study(result: StudyResult, out_dir: str | Path) -> dict[str, Path]:
    """Write every output of a run into ``out_dir`` (created if needed) and return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        name: out_dir / name for name in ("study.json", "study.csv", "study.md", "study.png", "confidence_hist.png")
    }
    document = result.to_dict()
    document["paper"] = {
        category: [
            {"ethnicity": ethnicity, "gender": gender, "mean_pct": mean, "std_pct": std}
            for (ethnicity, gender), (mean, std) in table.items()
        ]
        for category, table in PAPER_TABLES.items()
    }
    paths["study.json"].write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    write_video_csv(result.videos, paths["study.csv"])
    paths["study.md"].write_text(study_markdown(result), encoding="utf-8")
    draw_cell_bars(result, paths["study.png"])
    draw_confidence_histogram(result, paths["confidence_hist.png"])
    return paths


def write_video_csv(rows: list[StudyVideoRow], path: Path) -> None:
    """One line per analysed video."""
    names = [item.name for item in fields(StudyVideoRow)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({name: _csv_value(getattr(row, name)) for name in names})


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    return round(value, 4) if isinstance(value, float) else value


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _sampling(every_n_frames: int) -> str:
    return "every frame analysed" if every_n_frames == 1 else f"one frame in {every_n_frames} analysed"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _interval(interval: tuple[float, float] | None, digits: int = 2, scale: float = 1.0) -> str:
    return "–" if interval is None else f"{interval[0] * scale:.{digits}f} to {interval[1] * scale:.{digits}f}"


def _cell_table(cells: list[CellStats], category: str) -> list[str]:
    paper = PAPER_TABLES.get(category, {})
    lines = [
        "| Ethnicity | Gender | Videos in tree | Sampled | With a face | Average % (95% CI) | Std % | "
        "Accuracy % (95% CI) | Study: average ± std |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | --- | --- |",
    ]
    for cell in cells:
        published = paper.get((cell.ethnicity, cell.gender))
        accuracy = None if cell.accuracy is None else 100 * cell.accuracy
        lines.append(
            f"| {cell.ethnicity} | {GENDER_WORDS[cell.gender]} | {cell.videos_in_tree} | {cell.videos_sampled} | "
            f"{cell.videos_with_faces} | {_number(cell.mean_confidence_pct)} ({_interval(cell.mean_ci)}) | "
            f"{_number(cell.std_confidence_pct)} | {_number(accuracy, 1)} ({_interval(cell.accuracy_ci, 1, 100)}) | "
            f"{'–' if published is None else f'{published[0]:.2f} ± {published[1]:.2f}'} |"
        )
    return lines


def _comparison_table(comparisons: list[CellComparison]) -> list[str]:
    lines = [
        "| Ethnicity | Gender | Real n | Fake n | Real avg % | Fake avg % | Fake − real, points (95% CI) | "
        "Welch p | Study: fake − real |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for item in comparisons:
        real = PAPER_TABLES.get(item.real_category, {}).get((item.ethnicity, item.gender))
        fake = PAPER_TABLES.get(item.fake_category, {}).get((item.ethnicity, item.gender))
        published = _signed(None if real is None or fake is None else fake[0] - real[0])
        lines.append(
            f"| {item.ethnicity} | {GENDER_WORDS[item.gender]} | {item.real_videos} | {item.fake_videos} | "
            f"{_number(item.real_mean_pct)} | {_number(item.fake_mean_pct)} | "
            f"{_signed(item.difference_pct)} ({_interval(item.difference_ci)}) | "
            f"{'–' if item.p_value is None else f'{item.p_value:.3f}'} | {published} |"
        )
    return lines


def study_markdown(result: StudyResult) -> str:
    """The study's two tables, other categories, the real-vs-fake comparison and its sentences."""
    settings = result.settings
    real_category, fake_category = settings.comparison
    lines = [
        "# Deepfake study: confidence of the predicted gender on real and fake videos",
        "",
        f"Root `{settings.root}`; categories {', '.join(settings.categories)}; up to {settings.per_group} videos per "
        f"category × ethnicity × gender (seed {settings.seed}); {_sampling(settings.every_n_frames)}"
        f"{'' if settings.max_frames is None else f', at most {settings.max_frames} frames per video'}; "
        f"model `{settings.model['name']}` (sha256 {settings.model['sha256'][:12]}…); detection "
        f"scale factor {settings.detection['scale_factor']}, min neighbours {settings.detection['min_neighbors']}, "
        f"detect width {settings.detection['detect_width'] or 'full'}, full detection every "
        f"{settings.detection['redetect_every']} analysed frames; {settings.jobs} processes.",
        "",
        "## Definitions",
        "",
        *[f"- **{name}**: {text}." for name, text in result.definitions.items()],
        "",
        "The study's published values are shown beside ours for reference only: they come from its own sample of "
        "FakeAVCeleb and its own model.",
    ]
    for category in CATEGORIES:
        cells = [cell for cell in result.cells if cell.category == category]
        if not cells:
            continue
        number = TABLE_NUMBERS.get(category)
        title = f"Table {number} — {category}" if number else f"Additional table — {category}"
        lines += ["", f"## {title}", "", *_cell_table(cells, category)]
    comparisons = result.comparisons
    tested = [item for item in comparisons if item.p_value is not None]
    lines += [
        "",
        f"## Real vs fake: {fake_category} minus {real_category}",
        "",
        *_comparison_table(comparisons),
        "",
        *[f"- {item.sentence}" for item in comparisons],
    ]
    if tested:
        lines += [
            "",
            f"{len(tested)} groups were tested. At the {SIGNIFICANCE_LEVEL:.0%} level about "
            f"{len(tested) * SIGNIFICANCE_LEVEL:.1f} of them would show p < {SIGNIFICANCE_LEVEL} by chance alone even "
            f"with no real difference; a Bonferroni-corrected threshold is p < {SIGNIFICANCE_LEVEL / len(tested):.4f}.",
        ]
    excluded = [row for row in result.videos if not row.has_face]
    lines += ["", "## Videos left out of the figures", ""]
    if excluded:
        lines += [f"- `{row.path}`: {row.error or 'no face found in the analysed frames'}" for row in excluded]
    else:
        lines.append("None: a face was found in every sampled video.")
    lines += [
        "",
        "## Figures",
        "",
        "![Mean confidence per group, real beside fake, with 95% bootstrap intervals](study.png)",
        "",
        "![Distribution of per-video confidence](confidence_hist.png)",
        "",
    ]
    return "\n".join(lines)


def _groups(result: StudyResult) -> list[tuple[str, str]]:
    groups = {(cell.ethnicity, cell.gender) for cell in result.cells}
    return sorted(groups, key=lambda group: (ETHNICITIES.index(group[0]), GENDERS.index(group[1])))


def draw_cell_bars(result: StudyResult, path: Path) -> None:
    """Grouped bars: per ethnicity x gender, one bar per category, 95% bootstrap interval, study means as ◆."""
    groups = _groups(result)
    categories = [category for category in CATEGORIES if category in result.settings.categories]
    by_key = {(cell.category, cell.ethnicity, cell.gender): cell for cell in result.cells}
    width = 0.8 / len(categories)
    figure = Figure(figsize=(max(7.0, 1.5 * len(groups) + 2), 5.0), layout="constrained")
    axes = figure.add_subplot()
    positions = np.arange(len(groups))
    for offset, category in enumerate(categories):
        x = positions - 0.4 + width * (offset + 0.5)
        cells = [by_key.get((category, ethnicity, gender)) for ethnicity, gender in groups]
        means = [
            cell.mean_confidence_pct if cell and cell.mean_confidence_pct is not None else np.nan for cell in cells
        ]
        errors = np.array(
            [
                [mean - cell.mean_ci[0], cell.mean_ci[1] - mean] if cell and cell.mean_ci else [0.0, 0.0]
                for cell, mean in zip(cells, means, strict=True)
            ]
        ).T
        axes.bar(x, means, width, yerr=errors, capsize=3, color=CATEGORY_COLORS[category], label=category)
        paper = PAPER_TABLES.get(category, {})
        published = [paper.get(group, (np.nan, np.nan))[0] for group in groups]
        if not np.all(np.isnan(published)):
            axes.scatter(
                x,
                published,
                marker="D",
                s=30,
                facecolor="white",
                edgecolor="black",
                linewidth=1.2,
                zorder=3,
                label="study's published mean (reference)" if offset == 0 else None,
            )
    videos = {key: cell.videos_with_faces for key, cell in by_key.items()}
    tick_labels = [
        f"{ethnicity}\n{GENDER_WORDS[gender]}\nn = "
        + " / ".join(str(videos.get((category, ethnicity, gender), 0)) for category in categories)
        for ethnicity, gender in groups
    ]
    axes.set_xticks(positions, tick_labels, fontsize=8)
    axes.set_ylim(50, 100)
    axes.set_ylabel("mean confidence of the predicted gender (%)")
    axes.set_title(
        "Confidence per group, real beside fake (error bars: 95% bootstrap interval of the mean; "
        "n: videos with a face per bar, left to right)",
        fontsize=10,
    )
    axes.grid(axis="y", alpha=0.3)
    figure.legend(fontsize=8, loc="outside upper center", ncols=len(categories) + 1)
    figure.savefig(path, dpi=120)


def draw_confidence_histogram(result: StudyResult, path: Path) -> None:
    """Per-video confidence, one panel per gender, one outline per category."""
    bins = np.arange(50, 102.5, 2.5)
    figure = Figure(figsize=(10.0, 4.0), layout="constrained")
    panels = figure.subplots(1, 2, sharey=True)
    for axes, gender in zip(panels, (MALE, FEMALE), strict=True):
        for category in CATEGORIES:
            values = [
                row.confidence_pct
                for row in result.videos
                if row.category == category and row.gender == gender and row.has_face
            ]
            if values:
                color = CATEGORY_COLORS[category]
                axes.hist(values, bins=bins, histtype="stepfilled", color=color, alpha=0.25)
                axes.hist(
                    values, bins=bins, histtype="step", linewidth=2, color=color, label=f"{category} (n={len(values)})"
                )
        axes.set_title(f"{GENDER_WORDS[gender].capitalize()} (all ethnicities)", fontsize=10)
        axes.set_xlabel("per-video confidence of the predicted gender (%)")
        axes.set_xlim(50, 100)
        axes.grid(alpha=0.3)
        if axes.has_data():
            axes.legend(fontsize=8, loc="best")
    panels[0].set_ylabel("videos")
    panels[0].yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.savefig(path, dpi=120)
