"""What the API takes and gives, as serializers: input checks for uploads, and the documented shape of answers."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from predictions.forms import EVERY_N_FRAMES_MAX

DEFAULT_STUDY_EVERY_N_FRAMES = 5


class JobCreateSerializer(serializers.Serializer):
    """A multipart upload: the file, how often to analyse a video's frames, and an optional webhook."""

    # Checked by the site's validators (missing, empty, type, decode), so the API answers with the site's messages.
    file = serializers.FileField(
        required=False,
        allow_empty_file=True,
        allow_null=True,
        help_text="An image (JPEG, PNG, WEBP) or video (MP4, MOV, WEBM, AVI).",
    )
    every_n_frames = serializers.IntegerField(
        required=False,
        default=None,
        min_value=1,
        max_value=EVERY_N_FRAMES_MAX,
        help_text="Videos: analyse every Nth frame (default: the site's).",
    )
    webhook_url = serializers.URLField(
        required=False, max_length=500, help_text="POSTed the final snapshot, signed, when the job ends (key only)."
    )
    model = serializers.CharField(
        required=False,
        max_length=100,
        help_text="An available model's name or sha256 from /api/v1/models/ (default: the active model).",
    )

    def validate_every_n_frames(self, value: int | None) -> int:
        """The site's default when not given."""
        return value or settings.GENREC_DEFAULT_EVERY_N_FRAMES


class StudyCreateSerializer(serializers.Serializer):
    """A study batch: a ZIP of FakeAVCeleb videos and how each video is sampled."""

    file = serializers.FileField(
        required=False, allow_empty_file=True, allow_null=True, help_text="A ZIP in the FakeAVCeleb layout."
    )
    every_n_frames = serializers.IntegerField(required=False, default=None, min_value=1, max_value=EVERY_N_FRAMES_MAX)
    max_frames = serializers.IntegerField(required=False, default=None, min_value=1, allow_null=True)
    model = serializers.CharField(
        required=False,
        max_length=100,
        help_text="An available model's name or sha256 from /api/v1/models/ (default: the active model).",
    )

    def validate_every_n_frames(self, value: int | None) -> int:
        """The study page's default when not given."""
        return value or DEFAULT_STUDY_EVERY_N_FRAMES

    def validate_max_frames(self, value: int | None) -> int | None:
        """At most the site's video frame limit."""
        if value is not None and value > settings.GENREC_MAX_VIDEO_FRAMES:
            raise serializers.ValidationError(f"at most {settings.GENREC_MAX_VIDEO_FRAMES}")
        return value


class FaceSerializer(serializers.Serializer):
    """One face of the latest analysed frame."""

    box = serializers.ListField(child=serializers.IntegerField(), min_length=4, max_length=4)
    label = serializers.ChoiceField(choices=["female", "male"])
    p_female = serializers.FloatField()
    confidence = serializers.FloatField()
    track_id = serializers.IntegerField(allow_null=True)


class ResultFrameSerializer(serializers.Serializer):
    """A kept annotated frame."""

    index = serializers.IntegerField()
    url = serializers.CharField()


class JobSnapshotSerializer(serializers.Serializer):
    """The job snapshot: exactly what the job page renders (docs/DESIGN.md, "The job snapshot")."""

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["image", "video", "study"])
    status = serializers.ChoiceField(choices=["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"])
    original_name = serializers.CharField()
    every_n_frames = serializers.IntegerField()
    fps = serializers.FloatField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    frames_total = serializers.IntegerField()
    frames_done = serializers.IntegerField()
    faces_found = serializers.IntegerField()
    progress = serializers.IntegerField(help_text="Percent, 0-100.")
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    timeline = serializers.ListField(
        child=serializers.ListField(), help_text="[frame_index, time_seconds, mean_p_female or null, n_faces]"
    )
    persons_timeline = serializers.DictField(
        child=serializers.ListField(child=serializers.ListField()),
        help_text="Once finished, each person's smoothed curve: {track_id: [[frame_index, time_seconds, p_smoothed]]}",
    )
    latest_faces = FaceSerializer(many=True)
    result_frames = ResultFrameSerializer(many=True)
    summary = serializers.DictField(help_text="label, mean/std confidence, frames analysed, persons, ...")
    urls = serializers.DictField(child=serializers.CharField(), help_text="The site's pages and downloads.")


class JobListItemSerializer(serializers.Serializer):
    """A job in the list: its state without the timeline."""

    id = serializers.UUIDField(source="public_id")
    kind = serializers.CharField()
    status = serializers.CharField()
    original_name = serializers.CharField()
    every_n_frames = serializers.IntegerField()
    frames_total = serializers.IntegerField()
    frames_done = serializers.IntegerField()
    faces_found = serializers.IntegerField()
    progress = serializers.IntegerField(source="progress_percent")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class DetectionSerializer(serializers.Serializer):
    """One detected face: the columns of the CSV, in its order."""

    frame_index = serializers.IntegerField()
    time_seconds = serializers.FloatField()
    face_index = serializers.IntegerField()
    x = serializers.IntegerField()
    y = serializers.IntegerField()
    w = serializers.IntegerField()
    h = serializers.IntegerField()
    label = serializers.CharField()
    p_female = serializers.FloatField()
    confidence = serializers.FloatField()
    track_id = serializers.IntegerField(allow_null=True)
    track_kind = serializers.CharField(
        help_text='"person", "fragment" (a track too short to be one), "unconfirmed" (no track), or "" (not finished).'
    )
    p_female_smoothed = serializers.FloatField(allow_null=True, help_text="The person's smoothed curve here.")


class JobResultsSerializer(serializers.Serializer):
    """The result of a job: its summary and persons, and one page of its detections."""

    id = serializers.UUIDField()
    status = serializers.CharField()
    summary = serializers.DictField()
    persons = serializers.ListField(child=serializers.DictField())
    count = serializers.IntegerField(help_text="Detections in all pages.")
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    detections = DetectionSerializer(many=True)


class ModelVersionSerializer(serializers.Serializer):
    """A model version the workers can load, with the figures published in its manifest."""

    name = serializers.CharField()
    sha256 = serializers.CharField()
    active = serializers.BooleanField(help_text="The model a new job gets unless it names another.")
    available = serializers.BooleanField(help_text="Installed: a job may name it (others only analysed past jobs).")
    created_at = serializers.DateTimeField(allow_null=True)
    metrics = serializers.DictField(help_text="Accuracy, balanced accuracy, ROC AUC, ECE, per-group figures.")
    manifest = serializers.DictField(allow_null=True, help_text="An available model's manifest (training, settings).")


class WebhookDeliverySerializer(serializers.Serializer):
    """One attempt to deliver a job's webhook."""

    delivery_id = serializers.UUIDField()
    attempt = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    ok = serializers.BooleanField()
    error = serializers.CharField()
    duration_ms = serializers.FloatField()
    created_at = serializers.DateTimeField()


class WebhookSerializer(serializers.Serializer):
    """A job's webhook and its delivery log."""

    url = serializers.URLField()
    dispatched_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    deliveries = WebhookDeliverySerializer(many=True)


class StudySerializer(serializers.Serializer):
    """A study: its snapshot, the report document (once finished) and the report files that can be downloaded."""

    job = JobSnapshotSerializer()
    report = serializers.DictField(allow_null=True, help_text="study.json: cells, comparisons, videos, settings.")
    files = serializers.DictField(child=serializers.CharField(), help_text="name -> API download URL.")


class MeSerializer(serializers.Serializer):
    """Who the request is authenticated as."""

    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    auth = serializers.ChoiceField(choices=["key", "session"])
    scope = serializers.CharField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    """Every refusal: a readable message (and the failing fields for a form)."""

    error = serializers.CharField()
    fields = serializers.DictField(required=False)
