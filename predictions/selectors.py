"""Reads: every read of a user's data filters by owner (someone else's job is a 404); workers read a job they hold.

A new API endpoint reads through a selector here and renders with ``job_snapshot`` or its own small dict builder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Max, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse

from workers.pipeline.types import Box, Face, FrameResult

from . import media
from .events import face_dict, timeline_point
from .models import Job, JobPart, ModelVersion

STORED_COLUMNS = (
    "frame_index",
    "time_seconds",
    "face_index",
    "x",
    "y",
    "w",
    "h",
    "label",
    "p_female",
    "confidence",
    "track_id",
)
# One row per face: the stored columns (p_female is the model's raw per-frame value), what its track is, and the
# person's smoothed curve. track_kind: "person"; "fragment" (a track too short to be one, tracking.is_person);
# "unconfirmed" (a video's detection seen in too few frames in a row to start a track, confirmation.py); or ""
# (an image, or a video not finished yet).
RESULT_COLUMNS = (*STORED_COLUMNS, "track_kind", "p_female_smoothed")
PERSON, FRAGMENT, UNCONFIRMED = "person", "fragment", "unconfirmed"


def job_list_for_user(*, user) -> QuerySet[Job]:
    """The user's own jobs, newest first."""
    return Job.objects.filter(owner=user).order_by("-created_at")


def job_get_for_user(*, user, public_id) -> Job:
    """One of the user's jobs, or Http404 (never 403: ids of others must not be confirmed)."""
    return get_object_or_404(Job, owner=user, public_id=public_id)


def study_get_for_user(*, user, public_id) -> Job:
    """One of the user's studies, or Http404 (other users' jobs and jobs of other kinds alike)."""
    job = job_get_for_user(user=user, public_id=public_id)
    if job.kind != Job.Kind.STUDY:
        raise Http404("No such study")
    return job


def job_counters(*, job: Job) -> dict:
    """The job's progress counters as they are in the database now."""
    return Job.objects.filter(pk=job.pk).values("frames_done", "frames_total", "faces_found").get()


def job_is_running(*, job: Job, part: JobPart | None = None) -> bool:
    """Whether the job (and this part of it) should go on: the cheap check behind a worker's should_stop()."""
    if part is not None:
        return JobPart.objects.filter(
            pk=part.pk, status=JobPart.Status.RUNNING, job__status=Job.Status.RUNNING
        ).exists()
    return Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).exists()


def job_frame_results(job: Job) -> list[FrameResult]:
    """The merged sequence of every part of a job, rebuilt from its rows, frames without faces included."""
    frames = {
        row.frame_index: FrameResult(index=row.frame_index, time_seconds=row.time_seconds, faces=[])
        for row in job.analysed_frames.order_by("frame_index")
    }
    for detection in job.detections.order_by("frame_index", "face_index"):
        frames[detection.frame_index].faces.append(
            Face(
                box=Box(detection.x, detection.y, detection.w, detection.h),
                label=detection.label,
                p_female=detection.p_female,
                confidence=detection.confidence,
                descriptor=None if detection.descriptor is None else tuple(detection.descriptor),
            )
        )
    return list(frames.values())


def job_frames_written(job: Job) -> list[int]:
    """The kept result frames of this job whose JPEG is stored, in plan order (one listing, not one look per frame)."""
    if not job.result_frames:
        return []
    stored = set(media.children(job.results_prefix)[1])
    return [index for index in job.result_frames if f"{int(index)}.jpg" in stored]


def job_frame_key(job: Job, frame_index: int) -> str | None:
    """The media key of a kept result frame of this job, or None (not kept, not written yet, or purged)."""
    if frame_index not in job.result_frames:
        return None
    key = job.result_frame_key(frame_index)
    return key if media.exists(key) else None


def job_frame_url(job_or_public_id, frame_index: int) -> str:
    """The owner-checked URL of one kept result frame (of a Job, or of the job with that public id)."""
    public_id = getattr(job_or_public_id, "public_id", job_or_public_id)
    return reverse("job-frame", kwargs={"public_id": public_id, "frame_index": frame_index})


def job_urls(job: Job) -> dict[str, str]:
    """The URLs the job page needs."""
    kwargs = {"public_id": job.public_id}
    return {
        "page": reverse("job-detail", kwargs=kwargs),
        "json": reverse("job-result-json", kwargs=kwargs),
        "csv": reverse("job-result-csv", kwargs=kwargs),
        "cancel": reverse("job-cancel", kwargs=kwargs),
        "delete": reverse("job-delete", kwargs=kwargs),
        "socket": f"/ws/jobs/{job.public_id}/",
    }


def job_timeline(job: Job) -> list[list]:
    """Every analysed frame in order, with or without faces: ``[frame_index, time_seconds, mean_p_female, n_faces]``."""
    rows = job.analysed_frames.order_by("frame_index").values_list(
        "frame_index", "time_seconds", "mean_p_female", "faces"
    )
    return [
        timeline_point(frame_index=index, time_seconds=seconds, mean_p_female=mean, faces=faces)
        for index, seconds, mean, faces in rows
    ]


def job_latest_faces(job: Job) -> list[dict]:
    """The faces of the latest analysed frame (the newest state of the video)."""
    latest = job.analysed_frames.aggregate(latest=Max("frame_index"))["latest"]
    if latest is None:
        return []
    return [
        face_dict(
            box=(detection.x, detection.y, detection.w, detection.h),
            label=detection.label,
            p_female=detection.p_female,
            confidence=detection.confidence,
            track_id=detection.track_id,
        )
        for detection in job.detections.filter(frame_index=latest).order_by("face_index")
    ]


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def job_snapshot(job: Job) -> dict[str, Any]:
    """Everything the job page renders, from the database (DESIGN.md, "The job snapshot")."""
    duration = job.duration_seconds
    return {
        "id": str(job.public_id),
        "kind": job.kind,
        "status": job.status,
        "original_name": job.original_name,
        "every_n_frames": job.every_n_frames,
        "fps": job.fps,
        "width": job.width,
        "height": job.height,
        "frames_total": job.frames_total,
        "frames_done": job.frames_done,
        "faces_found": job.faces_found,
        "progress": job.progress_percent,
        "error": job.error,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "duration_seconds": None if duration is None else round(duration, 3),
        "timeline": job_timeline(job),
        "persons_timeline": job_persons_timeline(job),
        "latest_faces": job_latest_faces(job),
        "result_frames": [{"index": index, "url": job_frame_url(job, index)} for index in job_frames_written(job)],
        "summary": job.summary,
        "urls": job_urls(job),
    }


def person_track_ids(summary: dict) -> list[int]:
    """The track ids the job's summary lists as persons (not fragments), in its order."""
    return [person["track_id"] for person in (summary or {}).get("persons") or []]


def job_result_rows(job: Job) -> list[dict[str, Any]]:
    """One row per detected face, in frame order, with the columns of RESULT_COLUMNS (JSON and CSV alike)."""
    persons = set(person_track_ids(job.summary))
    untracked = UNCONFIRMED if job.kind == Job.Kind.VIDEO and job.summary else ""
    rows = list(job.detections.order_by("frame_index", "face_index").values(*STORED_COLUMNS, "p_female_smoothed"))
    for row in rows:
        track_id = row["track_id"]
        row["track_kind"] = untracked if track_id is None else PERSON if track_id in persons else FRAGMENT
    return [{column: row[column] for column in RESULT_COLUMNS} for row in rows]


def job_persons_timeline(job: Job) -> dict[str, list[list]]:
    """Each person's smoothed curve, ``{track_id: [[frame_index, time_seconds, p_female_smoothed], ...]}``.

    Empty until the job has finished (smoothing needs the whole track); fragments have no curve.
    """
    persons = person_track_ids(job.summary)
    rows = (
        job.detections.filter(track_id__in=persons, p_female_smoothed__isnull=False)
        .order_by("track_id", "frame_index")
        .values_list("track_id", "frame_index", "time_seconds", "p_female_smoothed")
    )
    curves: dict[str, list[list]] = {str(track_id): [] for track_id in persons}
    for track_id, frame_index, time_seconds, smoothed in rows:
        curves[str(track_id)].append([frame_index, round(time_seconds, 3), round(smoothed, 4)])
    return {track_id: curve for track_id, curve in curves.items() if curve}


def job_result_document(job: Job) -> dict[str, Any]:
    """The downloadable JSON result: the snapshot without page links, plus every detection."""
    document = job_snapshot(job)
    document.pop("urls")
    document["detections"] = job_result_rows(job)
    return document


# ---- model versions (public facts about the installed models, not user data) ----


def model_versions_available() -> list[ModelVersion]:
    """The installed models a job can use, by name."""
    return list(ModelVersion.objects.filter(available=True).order_by("name"))


def model_version_default() -> ModelVersion | None:
    """The model a new job gets unless one is chosen: the active one, else the row of GENREC_MODEL_DIR's folder.

    None when neither exists (no sync has run): the worker then loads GENREC_MODEL_DIR and records it.
    """
    active = ModelVersion.objects.filter(active=True, available=True).first()
    if active is not None:
        return active
    fallback = Path(settings.GENREC_MODEL_DIR).resolve()
    return next((version for version in model_versions_available() if version.directory.resolve() == fallback), None)


def model_version_named(asked: str) -> ModelVersion | None:
    """The available model with this name (or sha256), or None."""
    return next((version for version in model_versions_available() if asked in (version.name, version.sha256)), None)


def model_default_directory() -> Path:
    """The folder of the model new jobs get: the default version's, else GENREC_MODEL_DIR."""
    version = model_version_default()
    return version.directory if version is not None else Path(settings.GENREC_MODEL_DIR)
