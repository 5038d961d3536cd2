"""API views beside jobs: who am I, the model versions with their figures, and the deepfake study (staff)."""

from __future__ import annotations

import logging

from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from predictions import media, selectors
from predictions.models import Job, ModelVersion
from predictions.models_api import ApiKey

from . import gateway, serializers
from .errors import error_response
from .permissions import IsStaff, KeyScopePermission
from .views_jobs import ERRORS, IgnoreAccept, model_refusal

logger = logging.getLogger(__name__)


@extend_schema(tags=["account"], responses={200: serializers.MeSerializer, 401: ERRORS[401]})
class Me(APIView):
    """Who the request is authenticated as, and how."""

    def get(self, request):
        """The username, staff flag, and the key's scope (null for the browser session)."""
        key = request.auth if isinstance(request.auth, ApiKey) else None
        return Response(
            {
                "username": request.user.get_username(),
                "is_staff": request.user.is_staff,
                "auth": "key" if key else "session",
                "scope": key.scope if key else None,
            }
        )


def _model_row(version: ModelVersion | None, manifest: dict | None, active: bool) -> dict:
    """One model: a version row, or (version None) the GENREC_MODEL_DIR manifest before any sync registered it."""
    if version is None:
        return {
            "name": manifest.get("name", ""),
            "sha256": manifest.get("sha256", ""),
            "active": True,
            "available": True,
            "created_at": manifest.get("created_at"),
            "metrics": manifest.get("metrics") or {},
            "manifest": manifest,
        }
    return {
        "name": version.name,
        "sha256": version.sha256,
        "active": active,
        "available": version.available,
        "created_at": version.created_at,
        "metrics": version.metrics or {},
        "manifest": (version.manifest or None) if version.available else None,
    }


@extend_schema(tags=["models"], responses={200: serializers.ModelVersionSerializer(many=True), 401: ERRORS[401]})
class ModelList(APIView):
    """The installed models a job can ask for, and the versions that analysed earlier jobs, with their figures."""

    def get(self, request):
        """Every known model version, the active one (what a job gets unless it names another) first."""
        default = gateway.model_version_default()
        rows = [
            _model_row(version, None, default is not None and version.pk == default.pk)
            for version in ModelVersion.objects.order_by("name")
        ]
        manifest = gateway.shipped_manifest()
        if default is None and manifest:
            rows.append(_model_row(None, manifest, True))  # no row yet: the workers' fallback folder
        rows.sort(key=lambda row: (not row["active"], not row["available"]))
        return Response(serializers.ModelVersionSerializer(rows, many=True).data)


def staff_study(request, public_id) -> Job:
    """One of the staff member's studies; 404 for anyone else, as the study pages (they do not exist for them)."""
    if not request.user.is_staff:
        raise Http404("No such study")
    return gateway.study_get_for_user(user=request.user, public_id=public_id)


def study_document(job: Job) -> dict:
    """A study's snapshot, its report (once finished) and API links to its report files."""
    files = {
        name: reverse("api-v1-study-file", kwargs={"public_id": job.public_id, "name": name})
        for name in gateway.study_files_stored(job)
    }
    report = job.summary if job.status == Job.Status.SUCCEEDED else None
    return {"job": selectors.job_snapshot(job), "report": report, "files": files}


@extend_schema(tags=["studies"])
class StudyCreate(APIView):
    """Start a deepfake study from a ZIP of videos (staff)."""

    permission_classes = [KeyScopePermission, IsStaff]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": serializers.StudyCreateSerializer},
        responses={201: serializers.StudySerializer, **ERRORS},
    )
    def post(self, request):
        """Check the ZIP's central directory as the study page does, keep it and queue the study; 201 with it."""
        try:
            gateway.check_declared_archive_size(request.META.get("CONTENT_LENGTH"))
            refusal = gateway.limit_refusal(user=request.user)
            if refusal:
                raise refusal
        except gateway.UploadRejected as rejected:
            return error_response(rejected.message, rejected.status)
        options = serializers.StudyCreateSerializer(data=request.data)
        if not options.is_valid():
            return error_response("Invalid study options.", 400, fields=options.errors)
        fields = {"file": None, **options.validated_data}
        asked = fields.pop("model", None)
        refusal = model_refusal(asked)
        if refusal:
            return error_response(refusal, 400)
        try:
            job = gateway.study_from_zip(
                owner=request.user, **fields, model_version=gateway.model_version_named(asked) if asked else None
            )
        except gateway.UploadRejected as rejected:
            logger.info("API study refused for user %s: %s", request.user.pk, rejected.message)
            return error_response(rejected.message, rejected.status)
        return Response(study_document(job), status=status.HTTP_201_CREATED)


@extend_schema(tags=["studies"], responses={200: serializers.StudySerializer, **ERRORS})
class StudyDetail(APIView):
    """One of your studies (staff)."""

    def get(self, request, public_id):
        """The study's snapshot, its report once finished, and its downloadable files."""
        return Response(study_document(staff_study(request, public_id)))


@extend_schema(tags=["studies"], responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: ERRORS[404]})
class StudyFile(APIView):
    """One report file of your study: study.json, study.csv, study.md, study.png or confidence_hist.png."""

    content_negotiation_class = IgnoreAccept

    def get(self, request, public_id, name: str):
        """The file, by its allow-listed name."""
        job = staff_study(request, public_id)
        key = gateway.study_file_key(job, name)
        if key is None:
            raise Http404("No such file")
        content_type, _ = gateway.STUDY_FILES[name]
        response = FileResponse(media.open_file(key), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="study-{str(job.public_id)[:8]}-{name}"'
        return response
