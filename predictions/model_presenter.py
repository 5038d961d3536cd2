"""The installed models as pages show them: the choices of an upload form and the Concept page's comparison."""

from __future__ import annotations

from collections.abc import Callable

from .formatting import percent
from .selectors import model_version_default, model_versions_available


def _adults(metrics: dict) -> dict:
    return metrics.get("adults") or {}


def _number(value, digits: int) -> str | None:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else None


def _worst_race(metrics: dict) -> str | None:
    worst = (metrics.get("race_gap") or {}).get("worst")
    accuracy = (metrics.get("race_accuracy") or {}).get(worst)
    return f"{worst} {percent(accuracy)}" if worst and accuracy is not None else None


# One row per figure: its label and how it is read from a manifest's "metrics" (the held-out split's figures).
COMPARISON_ROWS: tuple[tuple[str, Callable[[dict], str | None]], ...] = (
    ("Accuracy, adults (18+)", lambda m: percent(_adults(m).get("accuracy"))),
    ("Accuracy, all ages", lambda m: percent(m.get("accuracy"))),
    ("ROC AUC, adults", lambda m: _number(_adults(m).get("roc_auc"), 3)),
    ("ROC AUC, all ages", lambda m: _number(m.get("roc_auc"), 3)),
    ("Worst race group, adults", lambda m: _worst_race(_adults(m))),
    ("Calibration error (ECE), all ages", lambda m: _number(m.get("ece"), 3)),
    ("Held-out faces scored, all ages", lambda m: m.get("n")),
)


def model_choices() -> dict:
    """The context of a form's model select: the available models by name, the default (active) one marked."""
    default = model_version_default()
    default_name = default.name if default else ""
    return {
        "model_options": [
            (version.name, f"{version.name} (active)" if version.name == default_name else version.name)
            for version in model_versions_available()
        ],
        "default_model": default_name,
    }


def model_comparison() -> dict | None:
    """The Concept page's table: one column per available model (the active one marked), one row per figure."""
    versions = model_versions_available()
    if not versions:
        return None
    default = model_version_default()
    columns = [
        {
            "name": version.name,
            "active": default is not None and version.pk == default.pk,
            "components": ((version.manifest.get("parameters") or {}).get("pca") or {}).get("n_components"),
            "description": version.manifest.get("description", ""),
        }
        for version in versions
    ]
    rows = [
        {"label": label, "values": [read(version.metrics or {}) for version in versions]}
        for label, read in COMPARISON_ROWS
    ]
    return {"columns": columns, "rows": rows}
