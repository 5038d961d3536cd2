"""The model report: PNG figures (matplotlib, Agg) and a report.md that shows them with the numbers."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on workers and CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .config import FACE_SIZE  # noqa: E402
from .features import HALF  # noqa: E402
from .model import GenderModel  # noqa: E402

logger = logging.getLogger(__name__)

EIGENFACES_SHOWN = 15
DPI = 110
ALL_AGES, ADULTS = "all ages", "adults (18+)"


def _save(figure: plt.Figure, path: Path) -> str:
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path.name


def _sections(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sections = {ALL_AGES: metrics}
    if "adults" in metrics:
        sections[ADULTS] = metrics["adults"]
    return sections


def plot_variance(curve: list[float], n_components: int, path: Path) -> str:
    """Cumulative explained variance against the number of eigenfaces, with the model's choice marked."""
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    components = np.arange(1, len(curve) + 1)
    axes.plot(components, curve, color="tab:blue")
    if n_components <= len(curve):
        chosen = curve[n_components - 1]
        axes.axvline(n_components, color="tab:red", linestyle="--", label=f"model: {n_components} ({chosen:.1%})")
        axes.legend(loc="lower right")
    axes.set(xlabel="number of eigenfaces", ylabel="cumulative explained variance", ylim=(0, 1))
    axes.set_title("Explained variance of the eigenfaces")
    axes.grid(alpha=0.3)
    return _save(figure, path)


# Side of the square a leading pixel block of each kind is drawn as.
PIXEL_SIDES = {"pixels": FACE_SIZE, "pixels50": HALF}


def plot_eigenfaces(model: GenderModel, path: Path) -> str:
    """The mean face and the first eigenfaces of the model's PCA (their pixel block when features follow)."""
    pca = model.estimator.named_steps["pca"]
    side = PIXEL_SIDES.get(model.recipe.features[0])
    images = [pca.mean_] + list(pca.components_[:EIGENFACES_SHOWN]) if side else []
    titles = ["mean face"] + [f"eigenface {i}" for i in range(1, len(images))]
    columns = 4
    rows = max(int(np.ceil(len(images) / columns)), 1)
    figure, grid = plt.subplots(rows, columns, figsize=(columns * 1.9, rows * 2.1), squeeze=False)
    for axes, image, title in zip(grid.ravel(), images, titles, strict=False):
        axes.imshow(np.asarray(image)[: side * side].reshape(side, side), cmap="gray")
        axes.set_title(title, fontsize=9)
    for axes in grid.ravel():
        axes.axis("off")
    if not side:
        figure.suptitle(f"no pixel block to draw: the features start with {model.recipe.features[0]}")
    return _save(figure, path)


def plot_roc(metrics: dict[str, Any], path: Path) -> str:
    """ROC curves (female as the positive class) with their AUC, all ages and adults."""
    figure, axes = plt.subplots(figsize=(5.2, 5.0))
    for label, section in _sections(metrics).items():
        if section.get("roc_curve"):
            curve = section["roc_curve"]
            axes.plot(curve["fpr"], curve["tpr"], label=f"{label}: AUC {section['roc_auc']:.3f}")
    axes.plot([0, 1], [0, 1], color="gray", linestyle=":", label="chance")
    axes.set(xlabel="false positive rate (male called female)", ylabel="true positive rate (female found)")
    axes.set_title("ROC on the held-out split")
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    return _save(figure, path)


def plot_confusion(metrics: dict[str, Any], path: Path) -> str:
    """Confusion matrices with counts and row percentages."""
    sections = _sections(metrics)
    figure, grid = plt.subplots(1, len(sections), figsize=(4.6 * len(sections), 4.2), squeeze=False)
    for axes, (label, section) in zip(grid[0], sections.items(), strict=True):
        matrix = np.array(section["confusion_matrix"])
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (row, column), count in np.ndenumerate(matrix):
            colour = "white" if shares[row, column] > 0.6 else "black"
            axes.text(column, row, f"{count}\n{shares[row, column]:.1%}", ha="center", va="center", color=colour)
        names = section["confusion_labels"]
        axes.set_xticks([0, 1], names)
        axes.set_yticks([0, 1], names)
        axes.set(xlabel="predicted", ylabel="true", title=f"Confusion matrix, {label}")
    return _save(figure, path)


def plot_reliability(metrics: dict[str, Any], path: Path) -> str:
    """Reliability diagram: mean p_female against the observed share of women, per probability bin."""
    figure, axes = plt.subplots(figsize=(5.2, 5.0))
    for label, section in _sections(metrics).items():
        bins = [b for b in section["calibration"]["bins"] if b["count"]]
        axes.plot(
            [b["mean_p_female"] for b in bins],
            [b["female_rate"] for b in bins],
            marker="o",
            label=f"{label}: ECE {section['calibration']['ece']:.3f}",
        )
    axes.plot([0, 1], [0, 1], color="gray", linestyle=":", label="perfect calibration")
    axes.set(xlabel="mean predicted p_female", ylabel="observed share of women", xlim=(0, 1), ylim=(0, 1))
    axes.set_title("Reliability of p_female")
    axes.legend(loc="upper left")
    axes.grid(alpha=0.3)
    return _save(figure, path)


def plot_groups(metrics: dict[str, Any], kind: str, title: str, path: Path, adults_too: bool = True) -> str | None:
    """Accuracy per group with 95% bootstrap intervals, all ages and (unless the groups are ages) adults."""
    shown = _sections(metrics) if adults_too else {ALL_AGES: metrics}
    sections = {label: s["groups"].get(kind, {}) for label, s in shown.items()}
    names = list(sections[ALL_AGES])
    if not names:
        return None
    figure, axes = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2), 4.6))
    width = 0.8 / len(sections)
    for offset, (label, groups) in enumerate(sections.items()):
        positions = np.arange(len(names)) + (offset - (len(sections) - 1) / 2) * width
        values = [groups[name]["accuracy"] if name in groups else np.nan for name in names]
        intervals = [(groups.get(name) or {}).get("accuracy_ci") or (np.nan, np.nan) for name in names]
        lows, highs = [low for low, _ in intervals], [high for _, high in intervals]
        errors = np.abs(np.array([np.subtract(values, lows), np.subtract(highs, values)]))
        axes.bar(positions, values, width, yerr=errors, capsize=3, label=label)
        for x, name in zip(positions, names, strict=True):
            if name in groups:
                axes.text(
                    x, 0.505, f"n={groups[name]['n']}", ha="center", va="bottom", fontsize=7, rotation=90, color="white"
                )
    overall = metrics.get("adults", metrics)["accuracy"]
    axes.axhline(overall, color="gray", linestyle="--", linewidth=1, label=f"overall, adults: {overall:.1%}")
    axes.set_xticks(np.arange(len(names)), names, rotation=30 if len(names) > 5 else 0, ha="right")
    axes.set(ylabel="accuracy (95% bootstrap CI)", ylim=(0.5, 1.02))
    axes.set_title(title, pad=30)
    # Above the bars, so it never hides a bar or its count.
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def percent_cell(value: float | None) -> str:
    """A share as a table cell: one decimal, a dash when unknown."""
    return "—" if value is None else f"{value:.1%}"


def _interval(interval: tuple[float, float] | list[float] | None, spec: str) -> str:
    """'low–high' in the given format; 'no interval' for a group too small to resample (fewer than two faces)."""
    return "no interval" if interval is None else f"{interval[0]:{spec}}–{interval[1]:{spec}}"


def _group_table(metrics: dict[str, Any], kind: str) -> list[str]:
    lines = ["| group | n | accuracy (95% CI) | mean confidence (95% CI) | std confidence |", "|---|---|---|---|---|"]
    for name, group in metrics["groups"].get(kind, {}).items():
        lines.append(
            f"| {name} | {group['n']} | {percent_cell(group['accuracy'])} ({_interval(group['accuracy_ci'], '.1%')}) | "
            f"{group['mean_confidence']:.3f} ({_interval(group['mean_confidence_ci'], '.3f')}) | "
            f"{group['std_confidence']:.3f} |"
        )
    return lines


def _headline_table(metrics: dict[str, Any]) -> list[str]:
    lines = [
        "| population | faces | no face found | accuracy | balanced accuracy | ROC AUC | ECE | worst race | race gap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, section in _sections(metrics).items():
        gap = section.get("race_gap") or {}
        worst = gap.get("worst")
        worst_text = f"{worst} {percent_cell(section['groups']['race'][worst]['accuracy'])}" if worst else "—"
        lines.append(
            f"| {label} | {section['n']} | {section['no_face']} | {percent_cell(section['accuracy'])} | "
            f"{percent_cell(section['balanced_accuracy'])} | {section['roc_auc']:.4f} | "
            f"{section['calibration']['ece']:.3f} | "
            f"{worst_text} | {percent_cell(gap.get('gap'))} |"
        )
    return lines


def write_report(
    directory: Path, model: GenderModel, metrics: dict[str, Any], variance: list[float], notes: str = ""
) -> Path:
    """Draw every figure into ``directory`` and write ``report.md`` and ``metrics.json``; return report.md's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = model.manifest
    n_components = manifest["parameters"]["pca"]["n_components"]
    figures = {
        "variance": plot_variance(variance, n_components, directory / "explained_variance.png"),
        "eigenfaces": plot_eigenfaces(model, directory / "eigenfaces.png"),
        "roc": plot_roc(metrics, directory / "roc.png"),
        "confusion": plot_confusion(metrics, directory / "confusion_matrix.png"),
        "reliability": plot_reliability(metrics, directory / "reliability.png"),
        "race": plot_groups(metrics, "race", "Accuracy per race", directory / "accuracy_by_race.png"),
        "race_gender": plot_groups(
            metrics, "race_gender", "Accuracy per race and gender", directory / "accuracy_by_race_gender.png"
        ),
        "age": plot_groups(
            metrics, "age_band", "Accuracy per age band", directory / "accuracy_by_age.png", adults_too=False
        ),
    }
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    (directory / "report.md").write_text(_markdown(manifest, metrics, figures, notes))
    logger.info("wrote the report to %s", directory)
    return directory / "report.md"


def _markdown(manifest: dict[str, Any], metrics: dict[str, Any], figures: dict[str, str | None], notes: str) -> str:
    data, search, params = manifest["training_data"], manifest["search"], manifest["parameters"]
    lines = [
        f"# Model report: `{manifest['name']}`",
        "",
        f"{manifest['description']}. Created {manifest['created_at']}, sha256 `{manifest['sha256'][:16]}…`, "
        f"{manifest['size_bytes'] / 1e6:.1f} MB, {manifest['support_vectors']} support vectors.",
        "",
        "Reproduce with:",
        "",
        "```",
        manifest["reproduce"],
        "```",
        "",
        "## Held-out results",
        "",
        f"Evaluated on the stratified held-out {data['split']['test_size']:.0%} of `{data['source']}` "
        f"({data['test_images']} images, seed {data['split']['seed']}), with faces found by the same Haar detector "
        "and preprocessing as at inference. Images where the detector found no face are counted, not scored.",
        "",
        *_headline_table(metrics),
        "",
        f"![ROC]({figures['roc']}) ![reliability]({figures['reliability']})",
        "",
        f"![confusion matrix]({figures['confusion']})",
        "",
    ]
    for label, section in _sections(metrics).items():
        lines += [f"### Per race, {label}", "", *_group_table(section, "race"), ""]
        lines += [f"### Per race and gender, {label}", "", *_group_table(section, "race_gender"), ""]
    lines += [
        f"![accuracy by race]({figures['race']})",
        "",
        f"![accuracy by race and gender]({figures['race_gender']})",
    ]
    if figures["age"]:
        lines += ["", "### Per age band", "", *_group_table(metrics, "age_band"), "", f"![by age]({figures['age']})"]
    population = "all ages" if data["min_age"] is None else f"age >= {data['min_age']}"
    top = "\n".join(
        f"| {row['params']} | {row['mean_accuracy']:.2%} ± {row['std_accuracy']:.2%} |"
        for row in search.get("top", [])[:5]
    )
    lines += [
        "",
        "## Model",
        "",
        f"- PCA: {params['pca']['n_components']} eigenfaces, whiten={params['pca']['whiten']}; "
        f"SVM: {params['svm']}; balance: {params['balance']}; mirrored training faces: {params['flip_augmentation']}; "
        f"calibration: {params['calibration']}.",
        f"- Preprocessing: {manifest['preprocessing']}.",
        f"- Detection: {manifest['detection']}.",
        f"- Prediction time of `predict_p_female` (median, one process): {manifest['prediction_ms']['batch_1']:.2f} ms "
        f"for 1 face, {manifest['prediction_ms']['batch_10']:.2f} ms for 10 faces.",
        f"- Libraries: {manifest['libraries']}.",
        "",
        f"![explained variance]({figures['variance']})",
        "",
        f"![mean face and eigenfaces]({figures['eigenfaces']})",
        "",
        "## Training data and search",
        "",
        f"- {data['records']} labelled images; {data['train_images']} for training, {data['test_images']} held out. "
        f"No face found: {data['no_face']['train']} training, {data['no_face']['test']} held-out images.",
        f"- Training population: {population}; {data['train_faces']} faces ({data['train_faces_by_gender']}).",
        *_search_lines(search, top),
    ]
    if notes:
        lines += ["## What was tried", "", notes.strip(), ""]
    return "\n".join(lines)


def _search_lines(search: dict[str, Any], top: str) -> list[str]:
    """The report's lines on how the SVM parameters were chosen: a grid search, or fixed by the recipe."""
    if not search.get("candidates"):
        return [
            f"- No grid search: fixed SVM parameters {search.get('fixed')} (the recipe's), fitted on all training "
            "faces.",
            "",
        ]
    return [
        f"- Grid `{search['grid']}` ({search['candidates']} distinct candidates; coef0 only varies for poly), "
        f"{search['folds']}-fold CV on a stratified subsample of {search['samples']} training faces, then a refit of "
        f"the best parameters on all training faces. Best CV accuracy {search['best_cv_accuracy']:.2%}.",
        "",
        "| parameters | CV accuracy |",
        "|---|---|",
        top,
        "",
    ]
