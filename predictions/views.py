"""The site's pages: welcome, concept (with the shipped model's own report), try it now, my jobs, sign up."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from . import selectors
from .forms import EVERY_N_FRAMES_CHOICES, SignupForm, sampling_label

logger = logging.getLogger(__name__)

JOBS_PER_PAGE = 20
# Only plain PNG names found in the report folder are ever served: no paths, no other types.
FIGURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.png$")
EIGEN_FIGURE = re.compile(r"eigen|mean_face|variance|pca", re.IGNORECASE)


def report_dir() -> Path:
    """The shipped model's report folder (figures and report.md)."""
    return Path(settings.GENREC_MODEL_DIR) / "report"


def figure_names() -> list[str]:
    """The allow-list of figure file names: the PNGs actually present in the report folder."""
    folder = report_dir()
    if not folder.is_dir():
        return []
    return sorted(path.name for path in folder.iterdir() if path.is_file() and FIGURE_NAME.match(path.name))


def read_manifest() -> dict | None:
    """The shipped model's manifest, or None when it is missing or unreadable."""
    path = Path(settings.GENREC_MODEL_DIR) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        logger.exception("The model manifest at %s cannot be read", path)
        return None


@require_GET
def welcome(request: HttpRequest) -> HttpResponse:
    """What GEN_REC does, and the way in."""
    return render(request, "welcome.html")


@require_GET
def concept(request: HttpRequest) -> HttpResponse:
    """How it works, illustrated with the shipped model's own figures and numbers."""
    manifest = read_manifest()
    figures = [{"name": name, "caption": figure_caption(name)} for name in figure_names()]
    # Figures about the eigenfaces illustrate that step; the others show how well the model does.
    eigen_figures = [figure for figure in figures if EIGEN_FIGURE.search(figure["name"])]
    context = {
        "manifest": manifest,
        "model": model_facts(manifest) if manifest else None,
        "eigen_figures": eigen_figures,
        "result_figures": [figure for figure in figures if figure not in eigen_figures],
    }
    return render(request, "concept.html", context)


def figure_caption(name: str) -> str:
    """A readable caption from a figure's file name: "roc_curve.png" -> "Roc curve"."""
    words = re.sub(r"^\d+[_-]*", "", name.removesuffix(".png")).replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else name


@require_GET
def model_figure(request: HttpRequest, name: str) -> FileResponse:
    """One PNG of the shipped model's report, by an allow-listed name."""
    if name not in figure_names():
        raise Http404("No such figure")
    response = FileResponse(open(report_dir() / name, "rb"), content_type="image/png")
    response["Cache-Control"] = "public, max-age=3600"
    return response


def model_facts(manifest: dict) -> dict:
    """The numbers the Concept page shows, picked from the manifest without assuming every key is there."""
    metrics = manifest.get("metrics") or {}
    headline = metrics.get("adults") or metrics.get("test") or metrics
    parameters = manifest.get("parameters") or manifest.get("params") or {}
    counts = manifest.get("training_counts") or manifest.get("counts") or manifest.get("data") or {}
    return {
        "name": manifest.get("name", ""),
        "created_at": manifest.get("created_at", ""),
        "accuracy": _number(headline, "accuracy"),
        "balanced_accuracy": _number(headline, "balanced_accuracy"),
        "roc_auc": _number(headline, "roc_auc"),
        "n_test": headline.get("n") if isinstance(headline, dict) else None,
        "components": parameters.get("n_components") or parameters.get("pca__n_components"),
        "parameters": {key: value for key, value in parameters.items() if not isinstance(value, dict | list)},
        "counts": {key: value for key, value in counts.items() if isinstance(value, int | float | str)},
        "groups": _group_rows(headline.get("groups") if isinstance(headline, dict) else None),
    }


def _number(metrics: dict, key: str) -> float | None:
    value = metrics.get(key) if isinstance(metrics, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _group_rows(groups) -> list[dict]:
    """Per-group rows (name, n, accuracy, mean confidence) from a dict or a list of groups."""
    if isinstance(groups, dict):
        items = []
        for name, value in groups.items():
            if isinstance(value, dict) and "accuracy" in value:
                items.append({"group": name, **value})
            elif isinstance(value, dict):
                # Nested by kind of grouping, e.g. {"race_gender": {...}, "age_band": {...}}.
                items.extend(
                    {"group": f"{name}: {inner}", **row} for inner, row in value.items() if isinstance(row, dict)
                )
        groups = items
    if not isinstance(groups, list):
        return []
    rows = []
    for group in groups:
        if not isinstance(group, dict):
            continue
        accuracy = group.get("accuracy")
        if isinstance(accuracy, dict):
            accuracy = accuracy.get("value", accuracy.get("mean"))
        rows.append(
            {
                "group": group.get("group") or group.get("name") or "",
                "n": group.get("n") or group.get("count"),
                "accuracy": accuracy if isinstance(accuracy, int | float) else None,
            }
        )
    return rows


@login_required
@require_GET
def try_it(request: HttpRequest) -> HttpResponse:
    """Upload an image or a video and follow its job live."""
    context = {
        "every_n_frames_choices": [(n, sampling_label(n)) for n in EVERY_N_FRAMES_CHOICES],
        "default_every_n_frames": settings.GENREC_DEFAULT_EVERY_N_FRAMES,
        "max_upload_mb": settings.GENREC_MAX_UPLOAD_BYTES // (1024 * 1024),
    }
    return render(request, "try.html", context)


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    """The signed-in user's jobs, newest first, paginated."""
    page = Paginator(selectors.job_list_for_user(user=request.user), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "jobs/list.html", {"page": page})


@login_required
@require_GET
def job_detail(request: HttpRequest, public_id) -> HttpResponse:
    """One job, rendered from its snapshot and kept live by the same script as Try it now."""
    job = selectors.job_get_for_user(user=request.user, public_id=public_id)
    return render(request, "jobs/detail.html", {"job": job, "snapshot": selectors.job_snapshot(job)})


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account, sign in with it and go to Try it now."""
    if request.user.is_authenticated:
        return redirect("try")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("try")
    return render(request, "registration/signup.html", {"form": form})
