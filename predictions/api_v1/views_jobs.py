"""API views of jobs: create from an upload, list, snapshot, cancel, delete, results (JSON, CSV), frames, webhook."""

from __future__ import annotations

import csv
import io
import logging

from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FileUploadParser, FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from predictions import media, selectors
from predictions.models import Job
from predictions.models_api import ApiKey, JobWebhook

from . import gateway, serializers
from .errors import error_response
from .webhooks import address_refusal, webhooks_dispatch_ended

logger = logging.getLogger(__name__)

ERRORS = {code: OpenApiResponse(serializers.ErrorSerializer) for code in (400, 401, 403, 404, 413, 429)}
RESULTS_PAGE_SIZE = 500
RESULTS_PAGE_SIZE_MAX = 5000
WEBHOOK_NEEDS_KEY = "Webhooks are signed with the secret of an API key: create the job with a key to use one."


class IgnoreAccept(BaseContentNegotiation):
    """File downloads answer in their own type whatever the client's Accept header says."""

    def select_parser(self, request, parsers):
        """The view's first parser (downloads take no body)."""
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        """The first renderer, only for errors: a download is a response of its own type."""
        return renderers[0], renderers[0].media_type


class JobPagination(PageNumberPagination):
    """Pages of jobs: ``?page=`` and ``?page_size=`` (at most 200)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def owned_job(request: Request, public_id) -> Job:
    """One of the requester's jobs, or 404 (the site's selector: never confirms others' ids)."""
    return selectors.job_get_for_user(user=request.user, public_id=public_id)


def _upload_fields(request: Request) -> dict:
    """Multipart fields, or for a raw-body upload (Content-Disposition: attachment) the query string."""
    query = request.query_params
    fields = {key: query[key] for key in ("every_n_frames", "webhook_url", "model") if key in query}
    fields.update({key: value for key, value in request.data.items() if key != "file"})
    fields["file"] = request.data.get("file")
    return fields


def model_refusal(asked: str | None) -> str | None:
    """Why a requested model cannot analyse the job (it names no available model), or None."""
    if not asked or gateway.model_version_named(asked) is not None:
        return None
    return gateway.model_refusal_message(asked) + " See /api/v1/models/."


@extend_schema(tags=["jobs"])
class JobListCreate(ListAPIView):
    """The requester's jobs (GET, newest first) and creating a job from an upload (POST)."""

    serializer_class = serializers.JobListItemSerializer
    pagination_class = JobPagination
    parser_classes = [MultiPartParser, FormParser, FileUploadParser]

    def get_queryset(self):
        """Own jobs only, filtered by ``status`` and ``kind`` when given."""
        jobs = selectors.job_list_for_user(user=self.request.user)
        for name in ("status", "kind"):
            value = self.request.query_params.get(name)
            if value:
                jobs = jobs.filter(**{name: value.upper() if name == "status" else value.lower()})
        return jobs

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=list(Job.Status.values)),
            OpenApiParameter("kind", str, enum=list(Job.Kind.values)),
        ]
    )
    def get(self, request, *args, **kwargs):
        """List your jobs, newest first."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request={
            "multipart/form-data": serializers.JobCreateSerializer,
            "application/octet-stream": OpenApiTypes.BINARY,
        },
        parameters=[
            OpenApiParameter("every_n_frames", int, description="For a raw-body upload (multipart: a form field)."),
            OpenApiParameter("webhook_url", str, description="For a raw-body upload (multipart: a form field)."),
            OpenApiParameter("model", str, description="For a raw-body upload (multipart: a form field)."),
        ],
        responses={201: serializers.JobSnapshotSerializer, **ERRORS},
    )
    def post(self, request, *args, **kwargs):
        """Upload one image or video; it is checked like on the site, then queued. 201 with the job snapshot."""
        # Cheapest first, before the body is read: the declared size, then the per-user limits.
        try:
            gateway.check_content_length(request.META.get("CONTENT_LENGTH"))
            refusal = gateway.limit_refusal(user=request.user)
            if refusal:
                raise refusal
        except gateway.UploadRejected as rejected:
            return error_response(rejected.message, rejected.status)
        options = serializers.JobCreateSerializer(data=_upload_fields(request))
        if not options.is_valid():
            return error_response("Invalid upload options.", 400, fields=options.errors)
        return self._create(request, options.validated_data)

    def _create(self, request: Request, options: dict) -> Response:
        refusal = model_refusal(options.get("model"))
        if refusal:
            return error_response(refusal, 400)
        webhook_url = options.get("webhook_url")
        if webhook_url:
            refusal = WEBHOOK_NEEDS_KEY if not isinstance(request.auth, ApiKey) else address_refusal(webhook_url)
            if refusal:
                return error_response(refusal, 400)
        try:
            job = gateway.job_from_upload(
                owner=request.user,
                file=options.get("file"),
                every_n_frames=options["every_n_frames"],
                model_version=gateway.model_version_named(options["model"]) if options.get("model") else None,
            )
        except gateway.UploadRejected as rejected:
            logger.info("API upload refused for user %s: %s", request.user.pk, rejected.message)
            return error_response(rejected.message, rejected.status)
        if webhook_url:
            # Not in one transaction with the job (validation can be long, and SQLite would hold its write lock):
            # a job that ended before this row existed is dispatched right here.
            JobWebhook.objects.create(job=job, url=webhook_url, secret=request.auth.webhook_secret)
            webhooks_dispatch_ended()
        return Response(selectors.job_snapshot(job), status=status.HTTP_201_CREATED)


@extend_schema(tags=["jobs"])
class JobDetail(APIView):
    """One of your jobs: its snapshot (GET, optionally waiting for it to end) or deleting it (DELETE)."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "wait",
                int,
                description="Seconds to wait for the job to end before answering (capped by the server, default 0).",
            )
        ],
        responses={200: serializers.JobSnapshotSerializer, **ERRORS},
    )
    def get(self, request, public_id):
        """The job's snapshot, the same the job page renders; with ``?wait=N`` answers as soon as the job ends."""
        return Response(selectors.job_snapshot(owned_job(request, public_id)))

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request, public_id):
        """Delete the job with all its files (a running job is cancelled first)."""
        gateway.job_delete(job=owned_job(request, public_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["jobs"], request=None, responses={200: serializers.JobSnapshotSerializer, 409: ERRORS[400]})
class JobCancel(APIView):
    """Cancel a pending or running job."""

    def post(self, request, public_id):
        """Cancel the job; 409 when it has already ended."""
        job = owned_job(request, public_id)
        if not gateway.job_cancel(job=job):
            return error_response("This job has already ended.", 409)
        webhooks_dispatch_ended()
        job.refresh_from_db()
        return Response(selectors.job_snapshot(job))


@extend_schema(tags=["results"])
class JobResults(APIView):
    """The job's summary, persons, and its detections one page at a time."""

    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses={200: serializers.JobResultsSerializer, **ERRORS},
    )
    def get(self, request, public_id):
        """Summary and persons, and ``page_size`` detections (default 500, at most 5000) from ``page`` (from 1)."""
        job = owned_job(request, public_id)
        try:
            page = max(1, int(request.query_params.get("page", 1)))
            size = min(RESULTS_PAGE_SIZE_MAX, max(1, int(request.query_params.get("page_size", RESULTS_PAGE_SIZE))))
        except ValueError:
            return error_response("page and page_size must be whole numbers.", 400)
        rows = selectors.job_result_rows(job)
        has_next = page * size < len(rows)
        next_url = request.build_absolute_uri(f"?page={page + 1}&page_size={size}") if has_next else None
        summary = job.summary or {}
        return Response(
            {
                "id": str(job.public_id),
                "status": job.status,
                "summary": summary,
                "persons": summary.get("persons") or [],
                "count": len(rows),
                "page": page,
                "page_size": size,
                "next": next_url,
                "detections": rows[(page - 1) * size : page * size],
            }
        )


@extend_schema(tags=["results"], responses={(200, "text/csv"): OpenApiTypes.STR, 404: ERRORS[404]})
class JobResultsCsv(APIView):
    """Every detection of the job as CSV (the site's columns)."""

    content_negotiation_class = IgnoreAccept

    def get(self, request, public_id):
        """One row per face per analysed frame, columns as in RESULT_COLUMNS."""
        job = owned_job(request, public_id)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=selectors.RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(selectors.job_result_rows(job))
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="genrec-{job.public_id}.csv"'
        return response


@extend_schema(tags=["results"], responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 404: ERRORS[404]})
class JobFrame(APIView):
    """One kept annotated frame (JPEG); the snapshot's ``result_frames`` lists which."""

    content_negotiation_class = IgnoreAccept

    def get(self, request, public_id, frame_index: int):
        """The annotated JPEG of a kept frame of the job."""
        key = selectors.job_frame_key(owned_job(request, public_id), frame_index)
        if key is None:
            raise Http404("No such frame")
        response = FileResponse(media.open_file(key), content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=3600"
        return response


@extend_schema(tags=["jobs"], responses={200: serializers.WebhookSerializer, **ERRORS})
class JobWebhookLog(APIView):
    """The job's webhook and every delivery attempt (404 when the job has none)."""

    def get(self, request, public_id):
        """Where the webhook goes and how each attempt went."""
        job = owned_job(request, public_id)
        webhook = JobWebhook.objects.filter(job=job).first()
        if webhook is None:
            raise Http404("This job has no webhook")
        deliveries = serializers.WebhookDeliverySerializer(webhook.deliveries.order_by("attempt"), many=True).data
        return Response(
            {
                "url": webhook.url,
                "dispatched_at": webhook.dispatched_at,
                "delivered_at": webhook.delivered_at,
                "deliveries": deliveries,
            }
        )
