"""Number formatters of the pages and messages, in one place: sizes, percentages, figures and intervals."""

from __future__ import annotations

MEGABYTE = 1024 * 1024
MISSING = "–"


def whole_megabytes(size_bytes: int) -> int:
    """A byte limit in whole MB, as the upload forms show it."""
    return size_bytes // MEGABYTE


def megabytes(size_bytes: int) -> str:
    """A limit as people read it: "2048 MB", or "0.0477 MB" for small ones."""
    size_mb = size_bytes / MEGABYTE
    return f"{size_mb:.0f} MB" if size_mb >= 10 else f"{size_mb:.3g} MB"


def percent(value) -> str | None:
    """0.8906 -> "89.1%"; None (or anything not a number) stays None."""
    return None if not isinstance(value, int | float) else f"{100 * value:.1f}%"


def percent_range(low, high) -> str:
    """Two fractions as a percentage interval, "88.0% – 90.2%", or "" when either end is missing."""
    return f"{percent(low)} – {percent(high)}" if low is not None and high is not None else ""


def number(value, digits: int = 2) -> str:
    """A figure with ``digits`` decimals, or a dash when there is none."""
    return MISSING if value is None else f"{value:.{digits}f}"


def signed(value, digits: int = 2) -> str:
    """A difference with its sign ("+1.25"), or a dash when there is none."""
    return MISSING if value is None else f"{value:+.{digits}f}"


def interval(bounds, digits: int = 2, scale: float = 1.0) -> str:
    """A confidence interval "low – high" (times ``scale``), or a dash when there is none."""
    return MISSING if not bounds else f"{bounds[0] * scale:.{digits}f} – {bounds[1] * scale:.{digits}f}"
