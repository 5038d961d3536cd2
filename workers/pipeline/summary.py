"""The steps after frame analysis: link the faces into tracks and sum the video up, once over all its frames."""

from __future__ import annotations

from .tracking import assign_tracks, summarize_video
from .types import VideoResult


def track_and_summarize(result: VideoResult) -> VideoResult:
    """Set every face's track id and fill ``result.summary`` (over all of ``result.frames``); returns ``result``."""
    assign_tracks(result.frames)
    result.summary = summarize_video(result.frames, len(result.frames))
    return result
