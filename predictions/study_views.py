"""The deepfake study in the web platform (staff only): upload a ZIP batch, follow it live, read its report.

The options form lives in forms.py and the report's rows in study_presenter.py; these views only wire them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from workers.pipeline.study import CATEGORIES, ETHNICITIES, GENDERS
from workers.pipeline.study.report import GENDER_WORDS

from . import intake, media, selectors, services
from .api import accept_upload, json_error, login_required_json
from .archives import check_declared_archive_size
from .formatting import whole_megabytes
from .forms import (
    DEFAULT_STUDY_EVERY_N_FRAMES,
    DEFAULT_STUDY_MAX_FRAMES,
    EVERY_N_FRAMES_MAX,
    StudyFileForm,
    StudyOptionsForm,
    StudyRunForm,
)
from .model_presenter import model_choices
from .models import Job
from .study_presenter import runs_comparison, study_report
from .validators import UploadRejected, check_content_length

logger = logging.getLogger(__name__)

STAFF_ONLY_MESSAGE = "Only staff members can run the deepfake study."
STUDY_LIST_LENGTH = 20
# The study's outputs, by the names write_study gives them: nothing else in the folder is ever served.
STUDY_FILES = {
    "study.png": ("image/png", False),
    "confidence_hist.png": ("image/png", False),
    "study.csv": ("text/csv; charset=utf-8", True),
    "study.json": ("application/json", True),
    "study.md": ("text/markdown; charset=utf-8", True),
}


def study_files_stored(job: Job) -> list[str]:
    """The study's allow-listed output files that are stored, in STUDY_FILES order (one listing of its prefix)."""
    stored = set(media.children(job.results_prefix)[1])
    return [name for name in STUDY_FILES if name in stored]


def study_file_key(job: Job, name: str) -> str | None:
    """The media key of one allow-listed output of the study, or None (not an output, or not stored)."""
    if name not in STUDY_FILES:
        return None
    key = f"{job.results_prefix}/{name}"
    return key if media.exists(key) else None


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in and staff; anyone else is sent to log in or gets a 404 (the pages do not exist for them)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise Http404("No such page")
        return view(request, *args, **kwargs)

    return wrapper


@staff_required
@require_GET
def study_index(request: HttpRequest) -> HttpResponse:
    """Upload a batch of FakeAVCeleb videos as a ZIP or as loose labelled files; the staff member's studies below."""
    studies = selectors.job_list_for_user(user=request.user).filter(kind=Job.Kind.STUDY)[:STUDY_LIST_LENGTH]
    context = {
        "studies": studies,
        "max_zip_mb": whole_megabytes(settings.GENREC_STUDY_MAX_ZIP_BYTES),
        "max_unpacked_mb": whole_megabytes(settings.GENREC_STUDY_MAX_UNPACKED_BYTES),
        "max_videos": settings.GENREC_STUDY_MAX_VIDEOS,
        "default_every_n_frames": DEFAULT_STUDY_EVERY_N_FRAMES,
        "default_max_frames": DEFAULT_STUDY_MAX_FRAMES,
        "max_every_n_frames": EVERY_N_FRAMES_MAX,
        **model_choices(),
        "label_choices": {
            "categories": list(CATEGORIES),
            "ethnicities": list(ETHNICITIES),
            "genders": [[gender, GENDER_WORDS[gender]] for gender in GENDERS],
        },
    }
    return render(request, "studies/index.html", context)


@staff_required
@require_GET
def study_detail(request: HttpRequest, public_id) -> HttpResponse:
    """A study: live progress while it runs, then its tables, comparison, figures and downloads.

    ``?against=<id>`` of another finished study of the same staff member shows both runs cell by cell.
    """
    job = selectors.study_get_for_user(user=request.user, public_id=public_id)
    finished = job.status == Job.Status.SUCCEEDED
    others = (
        selectors.job_list_for_user(user=request.user)
        .filter(kind=Job.Kind.STUDY, status=Job.Status.SUCCEEDED)
        .exclude(pk=job.pk)[:STUDY_LIST_LENGTH]
        if finished
        else []
    )
    against = _other_study(request, others)
    context = {
        "job": job,
        "snapshot": selectors.job_snapshot(job),
        "report": study_report(job.summary) if finished else None,
        "files": study_files_stored(job),
        "others": others,
        "against": against,
        "runs": runs_comparison(job.summary, against.summary) if against else None,
    }
    return render(request, "studies/detail.html", context)


def _other_study(request: HttpRequest, others) -> Job | None:
    """The finished study named by ``?against=``, among the staff member's own; 404 for any other id."""
    wanted = request.GET.get("against")
    if not wanted:
        return None
    match = next((other for other in others if str(other.public_id) == wanted), None)
    if match is None:
        raise Http404("No such study to compare with")
    return match


@staff_required
@require_GET
def study_file(request: HttpRequest, public_id, name: str) -> FileResponse:
    """One output of the owner's study (a figure inline, the tables as a download), by an allow-listed name."""
    job = selectors.study_get_for_user(user=request.user, public_id=public_id)
    key = study_file_key(job, name)
    if key is None:
        raise Http404("No such file")
    content_type, attachment = STUDY_FILES[name]
    response = FileResponse(media.open_file(key), content_type=content_type)
    if attachment:
        response["Content-Disposition"] = content_disposition_header(True, f"study-{str(job.public_id)[:8]}-{name}")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@csrf_exempt  # accept_upload runs the CSRF check itself, after the refusals that must not read the body
@login_required_json
@require_POST
def study_upload(request: HttpRequest) -> JsonResponse:
    """Accept one study ZIP from a staff member: check its directory, keep it for the worker; 201 and its snapshot."""
    if not request.user.is_staff:
        return json_error(STAFF_ONLY_MESSAGE, 403)
    return accept_upload(
        request,
        check_declared_size=check_declared_archive_size,
        options_form=StudyOptionsForm,
        options_error=f"Analyse every N frames must be a whole number from 1 to {EVERY_N_FRAMES_MAX}, and frames "
        f"per video a whole number from 1 to {settings.GENREC_MAX_VIDEO_FRAMES}.",
        create=_study_create_from_request,
    )


def _study_created(job: Job) -> JsonResponse:
    """201 with the new study's snapshot and the page that follows it."""
    page = reverse("study-detail", kwargs={"public_id": job.public_id})
    return JsonResponse({"job": selectors.job_snapshot(job), "page": page}, status=201)


def _study_create_from_request(request: HttpRequest, options: dict) -> JsonResponse:
    job = intake.study_from_zip(
        owner=request.user,
        file=request.FILES.get("file"),
        every_n_frames=options["every_n_frames"],
        max_frames=options["max_frames"],
        model_version=options["model"],
    )
    return _study_created(job)


@csrf_exempt  # accept_upload runs the CSRF check itself, after the refusals that must not read the body
@login_required_json
@require_POST
def study_file_add(request: HttpRequest) -> JsonResponse:
    """Add one loose video with its labels to the staff member's draft study (a new draft when none is named)."""
    if not request.user.is_staff:
        return json_error(STAFF_ONLY_MESSAGE, 403)
    return accept_upload(
        request,
        check_declared_size=check_content_length,
        options_form=StudyFileForm,
        options_error="Invalid labels for this video.",
        create=_draft_add_from_request,
    )


def _draft_add_from_request(request: HttpRequest, fields: dict) -> JsonResponse:
    added = services.study_draft_add(owner=request.user, file=request.FILES.get("file"), **fields)
    return JsonResponse(added, status=201)


@login_required_json
@require_POST
@csrf_protect
def study_draft_run(request: HttpRequest) -> JsonResponse:
    """Queue the staff member's draft study of loose files with its sampling options; 201 with its page."""
    if not request.user.is_staff:
        return json_error(STAFF_ONLY_MESSAGE, 403)
    form = StudyRunForm(request.POST)
    if not form.is_valid():
        return json_error("Name the draft to run, with valid sampling options.", 400)
    refusal = intake.limit_refusal(user=request.user)
    try:
        if refusal:
            raise refusal
        job = services.study_draft_start(owner=request.user, **form.cleaned_data)
    except UploadRejected as rejected:
        return json_error(rejected.message, rejected.status)
    return _study_created(job)
