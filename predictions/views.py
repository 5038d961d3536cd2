"""The site's pages: welcome, concept (the models compared, the active one's report), try it now, jobs, sign up."""

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
from .formatting import percent, percent_range, whole_megabytes
from .forms import EVERY_N_FRAMES_CHOICES, SignupForm, sampling_label
from .model_presenter import model_choices, model_comparison
from .models import Job
from .study_presenter import published_study_tables

logger = logging.getLogger(__name__)

JOBS_PER_PAGE = 20
# Only plain PNG names found in the report folder are ever served: no paths, no other types.
FIGURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.png$")
CAPTION_ACRONYMS = {"roc", "pca", "svm", "ece", "auc"}
EIGEN_FIGURE = re.compile(r"eigen|mean_face|variance|pca", re.IGNORECASE)


def report_dir() -> Path:
    """The report folder (figures and report.md) of the model new jobs use."""
    return selectors.model_default_directory() / "report"


def figure_names() -> list[str]:
    """The allow-list of figure file names: the PNGs actually present in the report folder."""
    folder = report_dir()
    if not folder.is_dir():
        return []
    return sorted(path.name for path in folder.iterdir() if path.is_file() and FIGURE_NAME.match(path.name))


def read_report_json(name: str) -> dict | None:
    """A JSON file (manifest.json, report/metrics.json) of the model new jobs use; None if missing or unreadable."""
    path = selectors.model_default_directory() / name
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        logger.exception("The model file %s cannot be read", path)
        return None
    return document if isinstance(document, dict) else None


@require_GET
def welcome(request: HttpRequest) -> HttpResponse:
    """What GEN_REC does, and the way in."""
    return render(request, "welcome.html")


@require_GET
def concept(request: HttpRequest) -> HttpResponse:
    """How it works, illustrated with the shipped model's own figures and numbers."""
    manifest = read_report_json("manifest.json")
    figures = [{"name": name, "caption": figure_caption(name)} for name in figure_names()]
    # Figures about the eigenfaces illustrate that step; the others show how well the model does.
    eigen_figures = [figure for figure in figures if EIGEN_FIGURE.search(figure["name"])]
    context = {
        "model": model_facts(manifest, read_report_json("report/metrics.json")) if manifest else None,
        "eigen_figures": eigen_figures,
        "result_figures": [figure for figure in figures if figure not in eigen_figures],
        "study_tables": published_study_tables(),
        "model_comparison": model_comparison(),
    }
    return render(request, "concept.html", context)


def figure_caption(name: str) -> str:
    """A readable caption from a figure's file name: "roc_curve.png" -> "ROC curve"."""
    words = re.sub(r"^\d+[_-]*", "", name.removesuffix(".png")).replace("_", " ").replace("-", " ").split()
    words = [word.upper() if word.lower() in CAPTION_ACRONYMS else word for word in words]
    caption = " ".join(words)
    return caption[:1].upper() + caption[1:] if caption else name


@require_GET
def model_figure(request: HttpRequest, name: str) -> FileResponse:
    """One PNG of the shipped model's report, by an allow-listed name."""
    if name not in figure_names():
        raise Http404("No such figure")
    response = FileResponse(open(report_dir() / name, "rb"), content_type="image/png")
    response["Cache-Control"] = "public, max-age=3600"
    return response


def model_facts(manifest: dict, metrics: dict | None) -> dict:
    """The numbers the Concept page shows, from the manifest (and the report's metrics.json for group details)."""
    parameters = manifest.get("parameters") or {}
    pca = parameters.get("pca") or {}
    training = manifest.get("training_data") or {}
    overall = manifest.get("metrics") or {}
    adults = overall.get("adults") or {}
    populations = [
        _population_row(label, figures) for label, figures in (("All ages", overall), ("Adults (18+)", adults))
    ]
    populations = [row for row in populations if row["accuracy"] is not None]
    by_gender = training.get("train_faces_by_gender") or {}
    training_rows = [
        ("Training images", training.get("train_images")),
        ("Faces found in them", training.get("train_faces")),
        ("… of women", by_gender.get("female")),
        ("… of men", by_gender.get("male")),
        ("Held-out test images", training.get("test_images")),
    ]
    race_names = sorted(set(overall.get("race_accuracy") or {}) | set(adults.get("race_accuracy") or {}))
    return {
        "name": manifest.get("name", ""),
        "created_at": str(manifest.get("created_at", "")),
        "headline": populations[-1] if populations else None,
        "populations": populations,
        "components": pca.get("n_components"),
        "svm": {key: value for key, value in (parameters.get("svm") or {}).items() if _is_scalar(value)},
        "support_vectors": manifest.get("support_vectors"),
        "training": [(label, value) for label, value in training_rows if value is not None],
        "race_accuracy": [
            (
                name,
                percent((overall.get("race_accuracy") or {}).get(name)),
                percent((adults.get("race_accuracy") or {}).get(name)),
            )
            for name in race_names
        ],
        "race_gender": _race_gender_rows(metrics),
    }


def _is_scalar(value) -> bool:
    return isinstance(value, str | int | float | bool)


def _population_row(label: str, figures: dict) -> dict:
    gap = figures.get("race_gap") or {}
    return {
        "label": label,
        "n": figures.get("n"),
        "no_face": figures.get("no_face"),
        "accuracy": percent(figures.get("accuracy")),
        "balanced_accuracy": percent(figures.get("balanced_accuracy")),
        "roc_auc": figures.get("roc_auc"),
        "worst_race": gap.get("worst"),
        "race_gap": percent(gap.get("gap")),
    }


def _race_gender_rows(metrics: dict | None) -> list[dict]:
    """Per race × gender rows (all ages) with their 95% intervals, from the evaluation's metrics.json."""
    groups = ((metrics or {}).get("groups") or {}).get("race_gender") or {}
    rows = []
    for name, figures in sorted(groups.items()):
        if not isinstance(figures, dict) or figures.get("accuracy") is None:
            continue
        low, high = (figures.get("accuracy_ci") or [None, None])[:2]
        confidence_low, confidence_high = (figures.get("mean_confidence_ci") or [None, None])[:2]
        rows.append(
            {
                "group": name,
                "n": figures.get("n"),
                "accuracy": percent(figures["accuracy"]),
                "interval": percent_range(low, high),
                "mean_confidence": percent(figures.get("mean_confidence")),
                "confidence_interval": percent_range(confidence_low, confidence_high),
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
        "max_upload_mb": whole_megabytes(settings.GENREC_MAX_UPLOAD_BYTES),
        **model_choices(),
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
    if job.kind == Job.Kind.STUDY:
        return redirect("study-detail", public_id=job.public_id)
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
