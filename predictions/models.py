"""Jobs, their analysed frames and per-face detections, their parts (frame ranges of one video), model versions."""

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models

from workers.pipeline.types import VideoInfo

# Media keys (predictions/media.py): uploads/<uuid>.<ext>, studies/<hex>/<video path>, results/<job>/<file>.
UPLOADS_FOLDER = "uploads"
RESULTS_FOLDER = "results"
STUDIES_FOLDER = "studies"


class ModelVersion(models.Model):
    """A model folder the workers can load (synced from models/ by sync_models): its file's sha256 and figures."""

    name = models.CharField(max_length=100, unique=True)
    sha256 = models.CharField(max_length=64)
    metrics = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=False, help_text="The model new jobs use; at most one is active.")
    folder = models.CharField(
        max_length=500,
        blank=True,
        help_text="The model folder, relative to GENREC_MODELS_ROOT (absolute when outside it); empty when unknown.",
    )
    available = models.BooleanField(default=False, help_text="Its folder was found by the last sync.")
    manifest = models.JSONField(default=dict, blank=True, help_text="The folder's manifest.json at the last sync.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=models.Q(active=True), name="one_active_model"),
            models.UniqueConstraint(fields=["folder"], condition=~models.Q(folder=""), name="one_row_per_folder"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]})"

    @property
    def directory(self) -> Path | None:
        """The model folder on this machine, or None for a version whose folder was never known."""
        return Path(settings.GENREC_MODELS_ROOT) / self.folder if self.folder else None


class Job(models.Model):
    """One uploaded image or video and everything learned from it."""

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"
        STUDY = "study", "Deepfake study"  # staff only: a batch of videos; frames_total/done count videos

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        RUNNING = "RUNNING", "Running"
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"
        CANCELLED = "CANCELLED", "Cancelled"

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING)
    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    original_name = models.CharField(max_length=255, help_text="Shown to the owner only; never used as a path.")
    upload_name = models.CharField(
        max_length=100, blank=True, help_text="Stored file name (a UUID) under MEDIA_ROOT/uploads."
    )
    size_bytes = models.BigIntegerField(default=0)
    every_n_frames = models.PositiveIntegerField(default=1)
    max_frames = models.PositiveIntegerField(null=True, blank=True, help_text="Studies: frames analysed per video.")
    frames_total = models.PositiveIntegerField(default=0)
    frames_done = models.PositiveIntegerField(default=0)
    faces_found = models.PositiveIntegerField(default=0)
    frame_count = models.PositiveIntegerField(
        default=0, help_text="Videos: the frames the container declared when the upload was checked."
    )
    fps = models.FloatField(default=0.0)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When its task was last sent; the reaper re-sends one that waited too long."
    )
    queue = models.CharField(max_length=100, blank=True, help_text="The Celery queue its task was last sent to.")
    worker = models.CharField(
        max_length=200, blank=True, help_text="host:pid of the worker process that claimed it last."
    )
    error = models.TextField(blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)
    summary = models.JSONField(default=dict, blank=True)
    result_frames = models.JSONField(default=list, blank=True, help_text="Frame indexes whose annotated JPEG is kept.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    media_purged_at = models.DateTimeField(null=True, blank=True)
    parts_total = models.PositiveIntegerField(default=0, help_text="Frame ranges the video was split into.")
    finalizing_at = models.DateTimeField(
        null=True, blank=True, help_text="Set by the one task that merges the parts and finishes the job."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(fields=["status", "finished_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def upload_key(self) -> str | None:
        """The media key of the stored upload (it may already be deleted), or None when the job never had one.

        A study's upload is the prefix its archive's videos were unpacked under.
        """
        if not self.upload_name:
            return None
        return f"{STUDIES_FOLDER if self.kind == self.Kind.STUDY else UPLOADS_FOLDER}/{self.upload_name}"

    @property
    def video_info(self) -> VideoInfo | None:
        """What the upload's checks learned from video.probe, so workers need not probe again (None if unknown)."""
        if self.kind != self.Kind.VIDEO or self.frame_count <= 0:
            return None
        return VideoInfo(frame_count=self.frame_count, fps=self.fps, width=self.width, height=self.height)

    @property
    def results_prefix(self) -> str:
        """The media prefix of this job's annotated result frames (and a study's report files)."""
        return f"{RESULTS_FOLDER}/{self.public_id}"

    def result_frame_key(self, frame_index: int) -> str:
        """The media key of the annotated JPEG of one analysed frame."""
        return f"{self.results_prefix}/{int(frame_index)}.jpg"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def progress_percent(self) -> int:
        if not self.frames_total:
            return 100 if self.status == self.Status.SUCCEEDED else 0
        return min(100, round(100 * self.frames_done / self.frames_total))


class JobPart(models.Model):
    """A frame range of one long video, processed by its own task on any worker."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        RUNNING = "RUNNING", "Running"
        DONE = "DONE", "Done"
        FAILED = "FAILED", "Failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="parts")
    index = models.PositiveIntegerField()
    start_frame = models.PositiveIntegerField()
    end_frame = models.PositiveIntegerField(help_text="Exclusive.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    frames_done = models.PositiveIntegerField(default=0)
    frames_stored_until = models.PositiveIntegerField(
        default=0, help_text="Every analysed frame of the range before this index is stored (exclusive)."
    )
    resumed_from = models.PositiveIntegerField(
        null=True, blank=True, help_text="The frame its last run started from, when it resumed an earlier one."
    )
    attempts = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When its task was last sent; the reaper re-sends one that waited too long."
    )
    worker = models.CharField(
        max_length=200, blank=True, help_text="host:pid of the worker process that claimed it last."
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="unique_part_per_job")]

    def __str__(self) -> str:
        return f"part {self.index} [{self.start_frame}, {self.end_frame}) of job {self.job_id} ({self.status})"


class StudyVideoResult(models.Model):
    """One analysed video of a study, stored as it finishes, so a study that stops resumes after it."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="study_results")
    path = models.CharField(max_length=500, help_text="The video's path in the study's folder.")
    row = models.JSONField(help_text="The pipeline's StudyVideoRow of the video, as a dict.")
    attempt = models.PositiveIntegerField(help_text="The job's attempt that analysed it.")
    analysed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "analysed_at"]
        constraints = [models.UniqueConstraint(fields=["job", "path"], name="unique_study_video_per_job")]

    def __str__(self) -> str:
        return f"{self.path} of study {self.job_id} (attempt {self.attempt})"


class AnalysedFrame(models.Model):
    """One analysed frame of a job, with or without faces: the timeline is these rows."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="analysed_frames")
    frame_index = models.PositiveIntegerField()
    time_seconds = models.FloatField(default=0.0)
    faces = models.PositiveSmallIntegerField(default=0)
    mean_p_female = models.FloatField(null=True, blank=True, help_text="Null when the frame has no face.")

    class Meta:
        ordering = ["job", "frame_index"]
        constraints = [models.UniqueConstraint(fields=["job", "frame_index"], name="unique_analysed_frame_per_job")]

    def __str__(self) -> str:
        return f"frame {self.frame_index} of job {self.job_id}: {self.faces} face(s)"


class Detection(models.Model):
    """One face in one analysed frame of a job."""

    class Label(models.TextChoices):
        MALE = "male", "Male"
        FEMALE = "female", "Female"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="detections")
    frame_index = models.PositiveIntegerField()
    face_index = models.PositiveSmallIntegerField()
    time_seconds = models.FloatField(default=0.0)
    x = models.IntegerField()
    y = models.IntegerField()
    w = models.IntegerField()
    h = models.IntegerField()
    label = models.CharField(max_length=6, choices=Label.choices)
    p_female = models.FloatField()
    confidence = models.FloatField()
    track_id = models.IntegerField(null=True, blank=True)
    p_female_smoothed = models.FloatField(
        null=True, blank=True, help_text="This person's P(female) smoothed over neighbouring frames (set at the end)."
    )
    descriptor = models.JSONField(
        null=True, blank=True, help_text="The face's appearance descriptor (25 numbers), so tracking can rerun."
    )

    class Meta:
        ordering = ["job", "frame_index", "face_index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "frame_index", "face_index"], name="unique_face_per_job_frame")
        ]

    def __str__(self) -> str:
        return f"{self.label} {self.p_female:.2f} at frame {self.frame_index} of job {self.job_id}"


from .models_api import ApiAuthFailure, ApiKey, JobWebhook, WebhookDelivery  # noqa: E402, F401  (API keys, webhooks)
