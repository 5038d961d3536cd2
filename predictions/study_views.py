"""The deepfake study in the web platform (staff only): upload a ZIP batch, follow it live, read its report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from workers.pipeline.study import CATEGORIES
from workers.pipeline.study_report import GENDER_WORDS, PAPER_TABLES, TABLE_NUMBERS

from . import limits, selectors, study_services
from .api import json_error, login_required_json
from .archives import check_study_archive_size
from .forms import EVERY_N_FRAMES_MAX
from .models import Job
from .validators import UploadRejected

logger = logging.getLogger(__name__)

STAFF_ONLY_MESSAGE = "Only staff members can run the deepfake study."
DEFAULT_STUDY_EVERY_N_FRAMES = 5
DEFAULT_STUDY_MAX_FRAMES = 150
STUDY_LIST_LENGTH = 20
# The study's outputs, by the names write_study gives them: nothing else in the folder is ever served.
STUDY_FILES = {
    "study.png": ("image/png", False),
    "confidence_hist.png": ("image/png", False),
    "study.csv": ("text/csv; charset=utf-8", True),
    "study.json": ("application/json", True),
    "study.md": ("text/markdown; charset=utf-8", True),
}


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in and staff; anyone else is sent to log in or gets a 404 (the pages do not exist for them)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise Http404("No such page")
        return view(request, *args, **kwargs)

    return wrapper


class StudyOptionsForm(forms.Form):
    """How each video of the batch is sampled; the archive itself is checked by predictions.archives."""

    every_n_frames = forms.IntegerField(required=False, min_value=1, max_value=EVERY_N_FRAMES_MAX)
    max_frames = forms.IntegerField(required=False, min_value=1)

    def clean_every_n_frames(self) -> int:
        return self.cleaned_data.get("every_n_frames") or DEFAULT_STUDY_EVERY_N_FRAMES

    def clean_max_frames(self) -> int | None:
        value = self.cleaned_data.get("max_frames")
        if value is not None and value > settings.GENREC_MAX_VIDEO_FRAMES:
            raise forms.ValidationError(f"at most {settings.GENREC_MAX_VIDEO_FRAMES}")
        return value


def study_get_for_user(*, user, public_id) -> Job:
    """One of the user's studies, or Http404 (other users' jobs and jobs of other kinds alike)."""
    job = selectors.job_get_for_user(user=user, public_id=public_id)
    if job.kind != Job.Kind.STUDY:
        raise Http404("No such study")
    return job


@staff_required
@require_GET
def study_index(request: HttpRequest) -> HttpResponse:
    """Upload a batch of FakeAVCeleb videos as a ZIP; the staff member's earlier studies below."""
    studies = selectors.job_list_for_user(user=request.user).filter(kind=Job.Kind.STUDY)[:STUDY_LIST_LENGTH]
    context = {
        "studies": studies,
        "max_zip_mb": settings.GENREC_STUDY_MAX_ZIP_BYTES // (1024 * 1024),
        "max_unpacked_mb": settings.GENREC_STUDY_MAX_UNPACKED_BYTES // (1024 * 1024),
        "max_videos": settings.GENREC_STUDY_MAX_VIDEOS,
        "default_every_n_frames": DEFAULT_STUDY_EVERY_N_FRAMES,
        "default_max_frames": DEFAULT_STUDY_MAX_FRAMES,
        "max_every_n_frames": EVERY_N_FRAMES_MAX,
    }
    return render(request, "studies/index.html", context)


@staff_required
@require_GET
def study_detail(request: HttpRequest, public_id) -> HttpResponse:
    """A study: live progress while it runs, then its tables, comparison, figures and downloads."""
    job = study_get_for_user(user=request.user, public_id=public_id)
    context = {
        "job": job,
        "snapshot": selectors.job_snapshot(job),
        "report": study_report(job.summary) if job.status == Job.Status.SUCCEEDED else None,
        "files": [name for name in STUDY_FILES if (job.results_dir / name).is_file()],
    }
    return render(request, "studies/detail.html", context)


@staff_required
@require_GET
def study_file(request: HttpRequest, public_id, name: str) -> FileResponse:
    """One output of the owner's study (a figure inline, the tables as a download), by an allow-listed name."""
    job = study_get_for_user(user=request.user, public_id=public_id)
    if name not in STUDY_FILES or not (job.results_dir / name).is_file():
        raise Http404("No such file")
    content_type, attachment = STUDY_FILES[name]
    response = FileResponse(open(job.results_dir / name, "rb"), content_type=content_type)
    if attachment:
        response["Content-Disposition"] = content_disposition_header(True, f"study-{str(job.public_id)[:8]}-{name}")
    response["Cache-Control"] = "private, max-age=3600"
    return response


# As for single uploads, the CSRF check parses the multipart body, so it runs after the cheap refusals.
@csrf_exempt
@login_required_json
@require_POST
def study_upload(request: HttpRequest) -> JsonResponse:
    """Accept one study ZIP from a staff member: check and unpack it, then create the job; 201 with its snapshot."""
    if not request.user.is_staff:
        return json_error(STAFF_ONLY_MESSAGE, 403)
    try:
        check_study_archive_size(int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return json_error("The request has an invalid Content-Length.", 400)
    except UploadRejected as refusal:
        return json_error(refusal.message, refusal.status)
    refusal_message = limits.upload_refusal(user=request.user)
    if refusal_message:
        return json_error(refusal_message, 429)
    return _study_upload_checked(request)


@csrf_protect
def _study_upload_checked(request: HttpRequest) -> JsonResponse:
    options = StudyOptionsForm(request.POST)
    if not options.is_valid():
        return json_error(
            f"Analyse every N frames must be a whole number from 1 to {EVERY_N_FRAMES_MAX}, and frames per video "
            f"a whole number from 1 to {settings.GENREC_MAX_VIDEO_FRAMES}.",
            400,
        )
    try:
        job = study_services.study_create(owner=request.user, upload=request.FILES.get("file"), **options.cleaned_data)
    except UploadRejected as refusal:
        logger.info("Study archive refused for user %s: %s", request.user.pk, refusal.message)
        return json_error(refusal.message, refusal.status)
    page = reverse("study-detail", kwargs={"public_id": job.public_id})
    return JsonResponse({"job": selectors.job_snapshot(job), "page": page}, status=201)


# ---- the report, from the study.json document stored as the job's summary ----


def _number(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _interval(interval, digits: int = 2, scale: float = 1.0) -> str:
    return "–" if not interval else f"{interval[0] * scale:.{digits}f} – {interval[1] * scale:.{digits}f}"


def _published(category: str, ethnicity: str, gender: str) -> str:
    published = PAPER_TABLES.get(category, {}).get((ethnicity, gender))
    return "–" if published is None else f"{published[0]:.2f} ± {published[1]:.2f}"


def study_report(document: dict) -> dict | None:
    """What the report page shows, from a finished study's document; None when it holds no tables."""
    cells = document.get("cells") or []
    if not cells:
        return None
    tables = []
    for category in CATEGORIES:
        members = [cell for cell in cells if cell["category"] == category]
        if not members:
            continue
        number = TABLE_NUMBERS.get(category)
        tables.append(
            {
                "title": f"Table {number} — {category}" if number else f"Additional table — {category}",
                "rows": [
                    {
                        "ethnicity": cell["ethnicity"],
                        "gender": GENDER_WORDS[cell["gender"]],
                        "videos": cell["videos_sampled"],
                        "with_faces": cell["videos_with_faces"],
                        "left_out": cell["videos_without_faces"] + cell["videos_failed"],
                        "mean": _number(cell["mean_confidence_pct"]),
                        "mean_ci": _interval(cell["mean_ci"]),
                        "std": _number(cell["std_confidence_pct"]),
                        "accuracy": _number(None if cell["accuracy"] is None else 100 * cell["accuracy"], 1),
                        "accuracy_ci": _interval(cell["accuracy_ci"], 1, 100),
                        "published": _published(category, cell["ethnicity"], cell["gender"]),
                    }
                    for cell in members
                ],
            }
        )
    comparisons = document.get("comparisons") or []
    return {
        "settings": document.get("settings") or {},
        "tables": tables,
        "comparison_rows": [
            {
                "ethnicity": item["ethnicity"],
                "gender": GENDER_WORDS[item["gender"]],
                "real_videos": item["real_videos"],
                "fake_videos": item["fake_videos"],
                "real_mean": _number(item["real_mean_pct"]),
                "fake_mean": _number(item["fake_mean_pct"]),
                "difference": "–" if item["difference_pct"] is None else f"{item['difference_pct']:+.2f}",
                "difference_ci": _interval(item["difference_ci"]),
                "p_value": _number(item["p_value"], 3),
            }
            for item in comparisons
        ],
        "sentences": [item["sentence"] for item in comparisons],
        "comparison": (document.get("settings") or {}).get("comparison") or [],
        "left_out": [
            {"path": row["path"], "reason": row["error"] or "no face found in the analysed frames"}
            for row in document.get("videos") or []
            if row.get("confidence_pct") is None
        ],
        "definitions": document.get("definitions") or {},
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
