"""Errors the pipeline raises; callers show their message to the user as it is."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""


class VideoReadError(PipelineError):
    """A video that cannot be opened or yields no frame at all."""


class ImageReadError(PipelineError):
    """An image that cannot be read or decoded."""


class AnalysisCancelled(PipelineError):
    """The caller's ``should_stop()`` asked the analysis to stop."""
