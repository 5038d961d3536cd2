"""Models side by side: held-out faces per group (from each manifest) and shared clips (from bench/tracks.py).

Every model under ``models/`` was scored on the same held-out side (the split its manifest records), so their
face figures compare directly. Clip figures come from ``bench/tracks.py --json`` (the current tracker with each
model, every frame of the shared clips). ``write_comparison`` puts both tables into a model's ``report.md``
between two markers, replacing what an earlier run wrote there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .reports import percent_cell

BEGIN, END = "<!-- models side by side -->", "<!-- end of models side by side -->"
RACES = ("Asian", "Black", "Indian", "Others", "White")
# bench/tracks.py figures shown per model: (key, column title, format).
CLIP_COLUMNS = (
    ("labels_agreeing", "video label agrees", "{}"),
    ("delta_p_raw_mean", "mean \\|ΔP\\| raw", "{:.4f}"),
    ("delta_p_smoothed_mean", "mean \\|ΔP\\| smoothed", "{:.4f}"),
    ("one_person_clips_listing_one", "one-person clips listing one", "{}"),
    ("short_track_share", "tracks ≤ 2 frames", "{:.1%}"),
)


class ComparisonError(ValueError):
    """The models cannot be compared: a missing manifest, another held-out side, unreadable clip figures."""


def held_out_key(manifest: dict[str, Any]) -> tuple:
    """What decides a model's held-out side: the images, the split's size and seed."""
    data = manifest["training_data"]
    return data["source"], data["records"], data["split"]["test_size"], data["split"]["seed"]


def faces_table(manifests: list[dict[str, Any]]) -> list[str]:
    """One row per model: adults' accuracy, AUC and per-race accuracy, then all ages' accuracy and ECE."""
    keys = {held_out_key(manifest) for manifest in manifests}
    if len(keys) > 1:
        raise ComparisonError("these models were not scored on the same held-out side: " + ", ".join(map(str, keys)))
    lines = [
        "| model | adults: accuracy | ROC AUC | worst race | " + " | ".join(RACES) + " | all ages: accuracy | ECE |",
        "| --- " * (len(RACES) + 6) + "|",
    ]
    for manifest in manifests:
        metrics = manifest["metrics"]
        adults = metrics["adults"]
        races = adults["race_accuracy"]
        worst = min(races, key=races.get)
        lines.append(
            f"| `{manifest['name']}` | {percent_cell(adults['accuracy'])} (n = {adults['n']}) | "
            f"{adults['roc_auc']:.3f} | {worst} {percent_cell(races[worst])} | "
            + " | ".join(percent_cell(races.get(race)) for race in RACES)
            + f" | {percent_cell(metrics['accuracy'])} | {metrics['ece']:.3f} |"
        )
    return lines


def clips_table(clips: dict[str, Any], names: list[str]) -> list[str]:
    """One row per model with clip figures; models the clip run did not include are left out."""
    per_model = clips.get("models", {})
    rows = [name for name in names if name in per_model]
    if not rows:
        return []
    lines = ["| model | " + " | ".join(title for _key, title, _style in CLIP_COLUMNS) + " |"]
    lines.append("| --- " * (len(CLIP_COLUMNS) + 1) + "|")
    for name in rows:
        figures = per_model[name]
        cells = [style.format(figures[key]) if key in figures else "—" for key, _title, style in CLIP_COLUMNS]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def comparison_markdown(manifests: list[dict[str, Any]], clips: dict[str, Any] | None) -> str:
    """The report section: faces per group for every model, and the shared clips where measured."""
    lines = [
        BEGIN,
        "## Models side by side",
        "",
        "Held-out faces: the same held-out side for every model (faces found as at inference; the per-race columns "
        "are adults). Written by `manage.py compare_models`.",
        "",
        *faces_table(manifests),
    ]
    table = clips_table(clips or {}, [manifest["name"] for manifest in manifests])
    if table:
        total = clips.get("labelled_clips", 46)
        lines += [
            "",
            f"Shared clips, every frame, the current tracker ({total} labelled clips; "
            "`bench/tracks.py --model … --compare … --json …`): the video label against `GENDER_LABELS.csv`, and "
            "how much a person's P(female) moves between consecutive frames.",
            "",
            *table,
        ]
    return "\n".join([*lines, END]) + "\n"


def write_comparison(report: Path, manifests: list[dict[str, Any]], clips: dict[str, Any] | None) -> str:
    """Put the section into ``report`` after its held-out results (or replace the one there); return it."""
    section = comparison_markdown(manifests, clips)
    text = report.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail.removeprefix("\n")  # the section's own line end, kept in `section`
    elif "\n## Model\n" in text:
        head, rest = text.split("\n## Model\n", 1)
        text = head + "\n" + section + "\n## Model\n" + rest
    else:
        text = text.rstrip("\n") + "\n\n" + section
    report.write_text(text)
    return section


def read_clips(path: Path | None) -> dict[str, Any] | None:
    """bench/tracks.py's JSON, or None without a path."""
    if path is None:
        return None
    try:
        clips = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ComparisonError(f"cannot read the clip figures {path}: {error}") from error
    if "models" not in clips:
        raise ComparisonError(f"{path} has no per-model figures: run bench/tracks.py with --compare and --json")
    return clips
