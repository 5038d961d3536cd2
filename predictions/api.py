"""HTTP API: upload, job snapshot, result downloads, kept frames, cancel, delete, health."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from functools import wraps

import redis
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from . import intake, limits, media, selectors, services
from .forms import EVERY_N_FRAMES_MAX, UploadOptionsForm
from .models import Job
from .validators import UploadRejected, check_content_length

logger = logging.getLogger(__name__)


def json_error(message: str, status: int) -> JsonResponse:
    """The API's one error shape: {"error": message}."""
    return JsonResponse({"error": message}, status=status)


def login_required_json(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like login_required, but a script gets a 401 JSON answer instead of a login page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return json_error("Please log in again.", 401)
        return view(request, *args, **kwargs)

    return wrapper


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Whether the database and Redis answer; 200 when both do, 503 otherwise. No secrets in the answer."""
    checks = {"database": _database_reachable(), "redis": _redis_reachable()}
    healthy = all(checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)


def _database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.exception("Health check: the database does not answer")
        return False


def _redis_reachable() -> bool:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        logger.warning("Health check: Redis does not answer at the configured address")
        return False


def accept_upload(
    request: HttpRequest,
    *,
    check_declared_size: Callable[[str | None], None],
    options_form: type[forms.Form],
    options_error: str,
    create: Callable[[HttpRequest, dict], JsonResponse],
) -> JsonResponse:
    """The one path of every upload endpoint (a file to analyse, a study archive), cheapest refusals first.

    The declared Content-Length and the per-user limits are checked before the body is read; the CSRF check
    parses the multipart body, so it runs after them; then the options, then ``create`` (which checks the
    file and creates the job). Every refusal is an UploadRejected turned into ``{"error": message}``.
    """
    try:
        check_declared_size(request.META.get("CONTENT_LENGTH"))
    except UploadRejected as refusal:
        return json_error(refusal.message, refusal.status)
    refusal_message = limits.upload_refusal(user=request.user)
    if refusal_message:
        return json_error(refusal_message, 429)
    return _accept_checked(request, options_form=options_form, options_error=options_error, create=create)


@csrf_protect
def _accept_checked(request: HttpRequest, *, options_form, options_error: str, create) -> JsonResponse:
    options = options_form(request.POST)
    if not options.is_valid():
        # A model that is not available says so and lists the choices; the numbers share the endpoint's message.
        return json_error(options.errors["model"][0] if "model" in options.errors else options_error, 400)
    try:
        return create(request, options.cleaned_data)
    except UploadRejected as refusal:
        logger.info("Upload refused for user %s: %s", request.user.pk, refusal.message)
        return json_error(refusal.message, refusal.status)


@csrf_exempt  # accept_upload runs the CSRF check itself, after the refusals that must not read the body
@login_required_json
@require_POST
def job_upload(request: HttpRequest) -> JsonResponse:
    """Accept one image or video: check it completely, then create the job; 201 with its snapshot."""
    return accept_upload(
        request,
        check_declared_size=check_content_length,
        options_form=UploadOptionsForm,
        options_error=f"Analyse every N frames must be a whole number from 1 to {EVERY_N_FRAMES_MAX}.",
        create=_job_create_from_request,
    )


def _job_create_from_request(request: HttpRequest, options: dict) -> JsonResponse:
    job = intake.job_from_upload(
        owner=request.user,
        file=request.FILES.get("file"),
        every_n_frames=options["every_n_frames"],
        model_version=options["model"],
    )
    return JsonResponse({"job": selectors.job_snapshot(job)}, status=201)


@never_cache
@login_required_json
@require_GET
def job_snapshot_view(request: HttpRequest, public_id) -> JsonResponse:
    """The job's snapshot from the database (what the page renders)."""
    job = selectors.job_get_for_user(user=request.user, public_id=public_id)
    return JsonResponse({"job": selectors.job_snapshot(job)})


def _download_name(job: Job, extension: str) -> str:
    """An ASCII file name for a download, made from the job's display name and id."""
    stem = slugify(job.original_name.rsplit(".", 1)[0])[:60] or job.kind
    return f"genrec-{stem}-{str(job.public_id)[:8]}.{extension}"


@login_required
@require_GET
def job_result_json(request: HttpRequest, public_id) -> HttpResponse:
    """The job and every detection as a JSON download."""
    job = selectors.job_get_for_user(user=request.user, public_id=public_id)
    document = selectors.job_result_document(job)
    response = HttpResponse(json.dumps(document, indent=2), content_type="application/json")
    response["Content-Disposition"] = content_disposition_header(True, _download_name(job, "json"))
    return response


@login_required
@require_GET
def job_result_csv(request: HttpRequest, public_id) -> HttpResponse:
    """Every detection of the job as a CSV download, one row per face per analysed frame."""
    job = selectors.job_get_for_user(user=request.user, public_id=public_id)
    rows = list(selectors.job_result_rows(job))
    buffer = io.StringIO()
    columns = list(rows[0]) if rows else ["frame_index", "time_seconds", "label", "p_female", "confidence"]
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, _download_name(job, "csv"))
    return response


@login_required
@require_GET
def job_frame(request: HttpRequest, public_id, frame_index: int) -> FileResponse:
    """One kept annotated frame of the owner's job, as JPEG."""
    job = selectors.job_get_for_user(user=request.user, public_id=public_id)
    key = selectors.job_frame_key(job, frame_index)
    if key is None:
        raise Http404("No such frame")
    # The bytes, from whichever storage holds them: the browser never learns a bucket URL, signed or not.
    response = FileResponse(media.open_file(key), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_POST
def job_cancel_view(request: HttpRequest, public_id) -> HttpResponse:
    """Cancel the owner's job if it is still pending or running, then go back to its page."""
    job = selectors.job_get_for_user(user=request.user, public_id=public_id)
    if job.is_active:
        services.job_cancel(job=job)
        messages.info(request, "The job was cancelled.")
    return redirect("job-detail", public_id=job.public_id)


@login_required
@require_POST
def job_delete_view(request: HttpRequest, public_id) -> HttpResponse:
    """Delete the owner's job with all its files, then go to the list of jobs."""
    job = selectors.job_get_for_user(user=request.user, public_id=public_id)
    name = job.original_name
    services.job_delete(job=job)
    messages.success(request, f"Deleted “{name}” and all its files.")
    return redirect(reverse("job-list"))
