"""Writes to model versions: rows synced from the model folders, and the one active model staff choose."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from workers.pipeline.model import ModelIntegrityError, model_folders, read_manifest

from ..models import ModelVersion

logger = logging.getLogger(__name__)


class ModelUnavailable(ValueError):
    """A model version whose folder is not installed cannot become the active one."""


@dataclass
class ModelSync:
    """What one sync changed, by model name."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the sync wrote anything."""
        return bool(self.created or self.updated or self.unavailable or self.deleted)


def folder_key(directory: Path) -> str:
    """How a row names its folder: relative to GENREC_MODELS_ROOT when inside it, else the absolute path."""
    resolved, root = Path(directory).resolve(), Path(settings.GENREC_MODELS_ROOT).resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)


def installed_model_folders() -> dict[str, Path]:
    """Every model folder under GENREC_MODELS_ROOT, plus GENREC_MODEL_DIR (the fallback) when it is elsewhere."""
    folders = list(model_folders(Path(settings.GENREC_MODELS_ROOT)))
    fallback = Path(settings.GENREC_MODEL_DIR)
    if (fallback / "manifest.json").is_file():
        folders.append(fallback)
    return {folder_key(folder): folder for folder in folders}


def model_versions_sync() -> ModelSync:
    """Make the rows match the folders: new folders become rows, changed manifests update theirs (idempotent).

    A row whose folder is gone is marked unavailable (and no longer active) while jobs reference it, and
    deleted otherwise.
    """
    report = ModelSync()
    folders = installed_model_folders()
    with transaction.atomic():
        for key, directory in folders.items():
            try:
                manifest = read_manifest(directory)
            except ModelIntegrityError as error:
                logger.warning("Model folder skipped: %s", error)
                continue
            _sync_folder(key, directory, manifest, report)
        for version in ModelVersion.objects.exclude(folder__in=list(folders)):
            _forget(version, report)
    if report.changed:
        logger.info("Model versions synced: %s", report)
    return report


def _sync_folder(key: str, directory: Path, manifest: dict, report: ModelSync) -> None:
    """Create or update the row of one folder; a folderless row of the same file is adopted, not duplicated."""
    version = ModelVersion.objects.filter(folder=key).first()
    if version is None:
        version = ModelVersion.objects.filter(folder="", sha256=manifest["sha256"]).first()
    created = version is None
    version = version or ModelVersion(folder=key)
    wanted = {
        "folder": key,
        "name": _unique_name(directory.name, manifest["sha256"], version.pk),
        "sha256": manifest["sha256"],
        "metrics": manifest.get("metrics") or {},
        "manifest": manifest,
        "available": True,
    }
    if not created and all(getattr(version, name) == value for name, value in wanted.items()):
        return
    for name, value in wanted.items():
        setattr(version, name, value)
    version.save()
    (report.created if created else report.updated).append(version.name)


def _unique_name(name: str, sha256: str, pk: int | None) -> str:
    """The folder's name, unless another row holds it (a fallback folder outside models/ with the same name)."""
    taken = ModelVersion.objects.filter(name=name).exclude(pk=pk).exists()
    return f"{name}-{sha256[:8]}" if taken else name


def _forget(version: ModelVersion, report: ModelSync) -> None:
    """A row without a folder: kept (unavailable, inactive) while jobs reference it, deleted otherwise."""
    if not version.job_set.exists():
        version.delete()
        report.deleted.append(version.name)
    elif version.available or version.active:
        ModelVersion.objects.filter(pk=version.pk).update(available=False, active=False)
        report.unavailable.append(version.name)
        if version.active:
            logger.warning("The active model %s is no longer installed: new jobs use the default", version.name)


def model_version_activate(*, version: ModelVersion) -> None:
    """Make one available version the active one; the others are cleared in the same transaction."""
    if not version.available:
        raise ModelUnavailable(f"The model {version.name} is not installed on this site, so it cannot be active.")
    with transaction.atomic():
        ModelVersion.objects.filter(active=True).exclude(pk=version.pk).update(active=False)
        ModelVersion.objects.filter(pk=version.pk).update(active=True)
    version.active = True
    logger.info("Model %s (%s) is now the active model", version.name, version.sha256[:12])
