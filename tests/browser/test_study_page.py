"""The deepfake study in a real browser: a hostile ZIP is refused, a good one runs live to its report, and loose
videos labelled on the page give the same tables as the ZIP of the same videos."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from tests.browser import test_try_it_now as site
from tests.browser.page_checks import screenshot
from tests.jobs_helpers import write_face_clip
from tests.study_helpers import STUDY_ENTRIES, face_study_zip, study_zip
from workers.pipeline.study import study_video_from_path

pytestmark = pytest.mark.browser

# The live server, the worker and the browser of the Try-it-now test, shared rather than copied.
live_site = site.live_site
browser_page = site.browser_page
STAFF_PASSWORD = "a-long-staff-pass-phrase"
# Each number input of the form: its corner radius, its width and the width of the column it sits in.
NUMBER_INPUTS = """() => [...document.querySelectorAll('[data-study-form] input[type=number]')].map((input) => [
  getComputedStyle(input).borderTopLeftRadius,
  Math.round(input.getBoundingClientRect().width),
  Math.round(input.parentElement.clientWidth),
])"""


def log_in_as_staff(live_site, page) -> None:
    live_site.env["DJANGO_SUPERUSER_PASSWORD"] = STAFF_PASSWORD
    live_site.manage("createsuperuser", "--noinput", "--username", "grace", "--email", "grace@example.org")
    page.goto(live_site.url + "/accounts/login/?next=/studies/")
    page.fill("#id_username", "grace")
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(live_site.url + "/studies/")


def record_study_progress(page) -> list[tuple[str, str]]:
    """Every (videos, current video's frames) text the study panel shows, kept across the page's own reload."""
    seen: list[tuple[str, str]] = []
    page.expose_function("recordStudyProgress", lambda videos, frames: seen.append((videos, frames)))
    page.add_init_script(
        """document.addEventListener("DOMContentLoaded", () => {
          const panel = document.querySelector("[data-study-panel]");
          if (!panel) return;
          const text = (name) => panel.querySelector(`[data-field="${name}"]`).textContent;
          new MutationObserver(() => window.recordStudyProgress(text("videos"), text("video-frames")))
            .observe(panel, { subtree: true, childList: true, characterData: true });
        });"""
    )
    return seen


def test_staff_uploads_a_study_zip_and_follows_it_to_its_report(live_site, browser_page, tmp_path):
    page = browser_page
    page.set_default_timeout(30_000)
    log_in_as_staff(live_site, page)
    # The number inputs look like the site's other fields: rounded, the full width of their column.
    inputs = page.evaluate(NUMBER_INPUTS)
    assert len(inputs) >= 2 and all(radius == "10px" and width == column for radius, width, column in inputs), inputs
    screenshot(page, "study_page.png")
    page.goto(live_site.url + "/admin/")
    screenshot(page, "admin_index.png")
    page.goto(live_site.url + "/studies/")

    hostile = study_zip(tmp_path / "escape.zip", {"../../" + STUDY_ENTRIES[0]: b"\x00" * 100})
    page.set_input_files("#study-file", str(hostile))
    page.click("[data-upload-button]")
    error = page.locator("[data-upload-error]")
    error.wait_for(state="visible")
    assert "points outside the archive" in error.inner_text()
    screenshot(page, "study_refused.png")

    progress_seen = record_study_progress(page)
    page.set_input_files("#study-file", str(face_study_zip(tmp_path, frames=30)))
    page.fill("#study-every-n", "1")
    page.fill("#study-max-frames", "20")
    page.click("[data-upload-button]")
    page.wait_for_url(live_site.url + "/studies/*/")
    assert page.locator('[data-study-panel] [data-field="status"]').get_attribute("data-status") == "PENDING"

    live_site.start_worker()
    report = page.locator("[data-study-report]")
    report.wait_for(state="visible", timeout=site.JOB_TIMEOUT_MS)  # the page reloads itself when the study ends

    assert page.locator('[data-field="videos"]').inner_text() == f"{len(STUDY_ENTRIES)} / {len(STUDY_ENTRIES)} videos"
    # Live, before the report: each video counted, and the current video's frames out of the 20 analysed.
    assert {f"{done} / {len(STUDY_ENTRIES)} videos" for done in range(len(STUDY_ENTRIES))} <= {
        videos for videos, _ in progress_seen
    }
    assert any(frames.endswith("/ 20 frames analysed") for _, frames in progress_seen)
    assert "Table 1 — RealVideo-RealAudio" in report.inner_text()
    assert "Table 2 — FakeVideo-FakeAudio" in report.inner_text()
    figures = page.locator("[data-study-report] figure img")
    for index in range(figures.count()):
        figures.nth(index).scroll_into_view_if_needed()  # the figures load lazily
    page.wait_for_function(
        "[...document.querySelectorAll('[data-study-report] figure img')].every((img) => img.naturalWidth > 0)"
    )
    assert page.locator("[data-study-report] figure img").count() == 2
    assert page.locator("a:has-text('study.csv')").count() == 1
    screenshot(page, "study_report.png")


def study_tables(page) -> list[str]:
    """The text of the report's Tables 1-2 and its real-vs-fake table."""
    page.locator("[data-study-report]").wait_for(state="visible", timeout=site.JOB_TIMEOUT_MS)
    return page.locator("[data-study-table], [data-comparison-table]").all_inner_texts()


def test_loose_videos_labelled_on_the_page_give_the_same_tables_as_their_zip(live_site, browser_page, tmp_path):
    page = browser_page
    page.set_default_timeout(30_000)
    log_in_as_staff(live_site, page)
    live_site.start_worker()
    clip = write_face_clip(tmp_path / "face.mp4", frames=12).read_bytes()
    # Two videos in a dropped FakeAVCeleb folder (labels read from their paths), one loose file labelled by hand.
    folder = tmp_path / "FakeAVCeleb"
    for entry in STUDY_ENTRIES[:2]:
        (tmp_path / entry).parent.mkdir(parents=True)
        (tmp_path / entry).write_bytes(clip)
    loose = tmp_path / "loose" / PurePosixPath(STUDY_ENTRIES[2]).name
    loose.parent.mkdir()
    loose.write_bytes(clip)

    page.set_input_files("#study-folder", str(folder))
    page.set_input_files("#study-files", str(loose))
    run = page.locator("[data-run-button]")
    assert run.is_disabled()
    assert run.inner_text() == "Set the category of 1 video, the ethnicity of 1 video, the gender of 1 video"
    rows = page.locator("[data-files-table] tbody tr")
    assert rows.count() == 3
    for entry in STUDY_ENTRIES[:2]:  # read from the path, as study_video_from_path reads it
        video = study_video_from_path(PurePosixPath(entry))
        row = rows.filter(has_text=PurePosixPath(entry).name)
        assert [row.locator(f"select[name={name}]").input_value() for name in ("category", "ethnicity", "gender")] == [
            video.category,
            video.ethnicity,
            video.gender,
        ]
    hand = study_video_from_path(PurePosixPath(STUDY_ENTRIES[2]))
    row = rows.filter(has_text=loose.name)
    row.locator("select[name=category]").select_option(hand.category)
    row.locator("select[name=ethnicity]").select_option(hand.ethnicity)
    assert run.inner_text() == "Set the gender of 1 video"
    row.locator("select[name=gender]").select_option(hand.gender)
    assert run.inner_text() == "Run the study on 3 videos" and run.is_enabled()
    page.fill("#study-files-name", "loose clips")
    page.fill("#study-files-every-n", "1")
    page.fill("#study-files-max-frames", "6")
    screenshot(page, "study_files.png")
    run.click()
    page.wait_for_url(live_site.url + "/studies/*/")
    loose_tables = study_tables(page)
    assert page.locator("#study-title").inner_text() == "loose clips"

    page.goto(live_site.url + "/studies/")
    page.set_input_files("#study-file", str(study_zip(tmp_path / "same.zip", dict.fromkeys(STUDY_ENTRIES, clip))))
    page.fill("#study-every-n", "1")
    page.fill("#study-max-frames", "6")
    page.click("[data-upload-button]")
    page.wait_for_url(live_site.url + "/studies/*/")

    assert study_tables(page) == loose_tables
    assert "Table 1 — RealVideo-RealAudio" in page.locator("[data-study-report]").inner_text()

    # The two runs side by side: the same videos, so every cell's difference is nil.
    loose_run = page.locator("#study-against option", has_text="loose clips").get_attribute("value")
    page.select_option("#study-against", value=loose_run)
    page.click("[data-runs-comparison] button:has-text('Compare')")
    runs = page.locator("[data-runs-table] tbody tr")
    runs.first.wait_for()
    assert runs.count() == len(page.locator("[data-study-table] tbody tr").all())
    assert {row.locator("td").nth(4).inner_text() for row in runs.all()} <= {"+0.00", "–"}
    assert page.locator("[data-runs-comparison] [role=status]").count() == 0  # no "not the same videos" warning
    screenshot(page, "study_runs.png")
