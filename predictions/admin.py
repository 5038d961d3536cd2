"""Staff views of jobs, their parts and detections, and model versions; actions retry, cancel and purge media."""

from __future__ import annotations

import base64

import cv2
import numpy as np
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from . import media, services
from .models import Detection, Job, JobPart, ModelVersion
from .selectors import job_frame_key

THUMBNAIL_WIDTH = 160
DETECTIONS_PREVIEWED = 50


def thumbnail_data_url(job: Job) -> str | None:
    """The first kept result frame, shrunk and inlined: staff see it without an owner-checked file view."""
    key = next(filter(None, (job_frame_key(job, index) for index in job.result_frames)), None)
    image = cv2.imdecode(np.frombuffer(media.read_bytes(key), np.uint8), cv2.IMREAD_COLOR) if key else None
    if image is None:
        return None
    height, width = image.shape[:2]
    if width > THUMBNAIL_WIDTH:
        image = cv2.resize(
            image, (THUMBNAIL_WIDTH, round(height * THUMBNAIL_WIDTH / width)), interpolation=cv2.INTER_AREA
        )
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return f"data:image/jpeg;base64,{base64.b64encode(encoded).decode()}" if ok else None


class JobPartInline(admin.TabularInline):
    model = JobPart
    extra = 0
    can_delete = False
    fields = (
        "index",
        "start_frame",
        "end_frame",
        "status",
        "frames_done",
        "frames_stored_until",
        "resumed_from",
        "attempts",
        "worker",
        "heartbeat_at",
        "error",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    # Where each job is: its queue, the worker process holding it, its attempt and the frames stored so far.
    list_display = (
        "public_id",
        "owner",
        "kind",
        "status",
        "queue",
        "worker",
        "attempts",
        "frames_stored",
        "progress",
        "created_at",
        "thumbnail",
    )
    list_filter = ("status", "kind", "queue", ("owner", admin.RelatedOnlyFieldListFilter), "created_at")
    search_fields = ("public_id", "original_name", "owner__username")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = (JobPartInline,)
    actions = ("retry_jobs", "cancel_jobs", "purge_media")
    readonly_fields = (
        "public_id",
        "owner",
        "kind",
        "status",
        "original_name",
        "upload_name",
        "size_bytes",
        "every_n_frames",
        "frames_total",
        "frames_done",
        "faces_found",
        "fps",
        "width",
        "height",
        "attempts",
        "queue",
        "worker",
        "queued_at",
        "heartbeat_at",
        "error",
        "model_version",
        "summary",
        "result_frames",
        "created_at",
        "started_at",
        "finished_at",
        "media_purged_at",
        "parts_total",
        "finalizing_at",
        "thumbnail",
        "detections_preview",
    )
    fieldsets = (
        (None, {"fields": ("public_id", "owner", "kind", "status", "error", "thumbnail")}),
        ("File", {"fields": ("original_name", "upload_name", "size_bytes", "width", "height", "fps")}),
        (
            "Progress",
            {
                "fields": (
                    "every_n_frames",
                    "frames_total",
                    "frames_done",
                    "faces_found",
                    "attempts",
                    "queue",
                    "worker",
                    "queued_at",
                    "parts_total",
                    "heartbeat_at",
                    "finalizing_at",
                )
            },
        ),
        ("Times", {"fields": ("created_at", "started_at", "finished_at", "media_purged_at")}),
        ("Results", {"fields": ("model_version", "summary", "result_frames", "detections_preview")}),
    )

    def has_add_permission(self, request) -> bool:
        return False  # jobs come from uploads only

    @admin.display(description="frames stored")
    def frames_stored(self, job: Job) -> str:
        return f"{job.frames_done} of {job.frames_total}"

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        return f"{job.progress_percent}%"

    @admin.display(description="thumbnail")
    def thumbnail(self, job: Job) -> str:
        data_url = thumbnail_data_url(job)
        if data_url is None:
            return "-"
        return format_html('<img src="{}" width="{}" alt="first result frame">', data_url, THUMBNAIL_WIDTH)

    @admin.display(description="detections")
    def detections_preview(self, job: Job) -> str:
        detections = job.detections.order_by("frame_index", "face_index")[:DETECTIONS_PREVIEWED]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}, {}, {}, {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (d.frame_index, d.face_index, d.x, d.y, d.w, d.h, d.label, f"{d.p_female:.3f}", d.track_id)
                for d in detections
            ),
        )
        all_url = reverse("admin:predictions_detection_changelist") + f"?job__id__exact={job.pk}"
        return format_html(
            "<table><tr><th>frame</th><th>face</th><th>box</th><th>label</th><th>p_female</th><th>track</th></tr>"
            '{}</table><p>First {} of {} — <a href="{}">all detections, paginated</a></p>',
            rows,
            min(DETECTIONS_PREVIEWED, job.faces_found),
            job.faces_found,
            all_url,
        )

    @admin.action(description="Retry (re-queue failed or cancelled jobs whose upload still exists)")
    def retry_jobs(self, request, queryset: QuerySet[Job]) -> None:
        retried = sum(services.job_retry(job=job) for job in queryset)
        self._report(request, retried, queryset.count(), "re-queued", "not failed/cancelled or upload already deleted")

    @admin.action(description="Cancel pending or running jobs")
    def cancel_jobs(self, request, queryset: QuerySet[Job]) -> None:
        cancelled = sum(services.job_cancel(job=job) for job in queryset)
        self._report(request, cancelled, queryset.count(), "cancelled", "already ended")

    @admin.action(description="Purge media (upload and result frames) of ended jobs")
    def purge_media(self, request, queryset: QuerySet[Job]) -> None:
        ended = queryset.filter(status__in=Job.FINAL_STATUSES)
        files = sum(services.job_media_purge(job=job) for job in ended)
        self._report(request, ended.count(), queryset.count(), f"purged ({files} files removed)", "still active")

    def _report(self, request, done: int, selected: int, verb: str, reason: str) -> None:
        self.message_user(request, f"{done} job(s) {verb}.", messages.SUCCESS)
        if selected > done:
            self.message_user(request, f"{selected - done} job(s) left as they were: {reason}.", messages.WARNING)


@admin.register(Detection)
class DetectionAdmin(admin.ModelAdmin):
    list_display = ("job", "frame_index", "face_index", "label", "p_female", "confidence", "track_id")
    list_filter = ("label",)
    search_fields = ("job__public_id",)
    list_select_related = ("job",)
    list_per_page = 100
    raw_id_fields = ("job",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ModelVersionForm(forms.ModelForm):
    """Only "Active" is editable, and the form does not write it: ModelVersionAdmin.save_model applies it
    through services.model_version_activate, which clears the other active model first."""

    make_active = forms.BooleanField(
        required=False, label="Active", help_text="The model new jobs use; making one active clears the other."
    )

    class Meta:
        model = ModelVersion
        fields = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["make_active"].initial = self.instance.active

    def clean_make_active(self) -> bool:
        active = self.cleaned_data.get("make_active")
        if active and not self.instance.available:
            raise ValidationError("This model's folder is not installed: it cannot be the active model.")
        return active


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Model versions come from the folders (sync_models); staff choose the active one, which new jobs use."""

    form = ModelVersionForm

    list_display = ("name", "active", "available", "short_sha256", "adults_accuracy", "folder", "created_at")
    list_filter = ("active", "available")
    search_fields = ("name", "sha256", "folder")
    fields = ("name", "make_active", "available", "folder", "sha256", "metrics", "created_at")
    readonly_fields = ("name", "available", "folder", "sha256", "metrics", "created_at")
    actions = ("make_active",)

    def has_add_permission(self, request) -> bool:
        return False  # a model is a folder under models/: sync_models registers it

    def has_delete_permission(self, request, obj: ModelVersion | None = None) -> bool:
        return obj is None or not obj.job_set.exists()  # jobs keep the model that analysed them

    @admin.display(description="sha256")
    def short_sha256(self, version: ModelVersion) -> str:
        return version.sha256[:12]

    @admin.display(description="adults accuracy")
    def adults_accuracy(self, version: ModelVersion) -> str:
        accuracy = ((version.metrics or {}).get("adults") or {}).get("accuracy")
        return f"{accuracy:.1%}" if isinstance(accuracy, int | float) else "-"

    def save_model(self, request, obj: ModelVersion, form, change) -> None:
        """Ticking "active" makes this the one active model (the other is cleared in the same transaction)."""
        if form.cleaned_data["make_active"] and not obj.active:
            services.model_version_activate(version=obj)
        elif not form.cleaned_data["make_active"] and obj.active:
            ModelVersion.objects.filter(pk=obj.pk).update(active=False)  # none active: new jobs use the default

    @admin.action(description="Make the selected model the active one (new jobs use it)")
    def make_active(self, request, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model to make active.", messages.ERROR)
            return
        version = queryset.get()
        try:
            services.model_version_activate(version=version)
        except services.ModelUnavailable as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(
            request, f"Now active: {version.name}. New jobs use it; jobs already created keep theirs.", messages.SUCCESS
        )
