"""The study's layout readers, sampling, per-cell figures, comparison and report, on small hand-made inputs."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest
from scipy import stats

from workers.pipeline.config import STUDY_DETECTION
from workers.pipeline.study import (
    FAKE_FAKE,
    REAL_REAL,
    CellComparison,
    StudyLayoutError,
    StudyResult,
    StudySettings,
    StudyVideo,
    StudyVideoRow,
    compare_real_fake,
    describe_comparison,
    find_study_videos,
    normalize_category,
    normalize_ethnicity,
    normalize_gender,
    sample_per_cell,
    summarize_cells,
)
from workers.pipeline.study.report import write_study


def touch(root: Path, relative: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def test_normalize_accepts_disk_and_paper_spellings():
    assert normalize_ethnicity("Asian_East") == normalize_ethnicity("Asian (East)") == "Asian (East)"
    assert normalize_ethnicity("Caucasian_European") == "Caucasian (European)"
    assert normalize_ethnicity("Martian") is None
    assert normalize_category("fakevideo_fakeaudio") == FAKE_FAKE
    assert normalize_gender("men") == "male" and normalize_gender("women") == "female"
    assert normalize_gender("children") is None


def test_find_study_videos_reads_folder_layout_with_both_spellings(tmp_path):
    touch(tmp_path, "RealVideo-RealAudio/Asian_East/men/id00001/00001.mp4")
    touch(tmp_path, "RealVideo-RealAudio/Asian (East)/men/id00002/00002.mp4")
    touch(tmp_path, "FakeVideo-FakeAudio/Caucasian_European/women/id00003/00003_fake.mp4")
    touch(tmp_path, "FakeVideo-FakeAudio/Caucasian_European/women/id00003/notes.txt")
    touch(tmp_path, "FakeVideo-FakeAudio/Martian/women/id00004/00004.mp4")  # unknown ethnicity: not in the study
    touch(tmp_path, "Extras/African/men/id00005/00005.mp4")  # unknown category

    videos = find_study_videos(tmp_path)

    assert Counter(video.cell for video in videos) == {
        (REAL_REAL, "Asian (East)", "male"): 2,
        (FAKE_FAKE, "Caucasian (European)", "female"): 1,
    }
    fake = next(video for video in videos if video.category == FAKE_FAKE)
    assert fake.path == "FakeVideo-FakeAudio/Caucasian_European/women/id00003/00003_fake.mp4"
    assert fake.source_id == "id00003"


def test_find_study_videos_accepts_a_root_above_the_category_folders(tmp_path):
    touch(tmp_path, "FakeAVCeleb/RealVideo-RealAudio/Caucasian_American/women/id00012/00031.mp4")

    [video] = find_study_videos(tmp_path)

    assert video.path == "FakeAVCeleb/RealVideo-RealAudio/Caucasian_American/women/id00012/00031.mp4"
    assert video.cell == (REAL_REAL, "Caucasian (American)", "female")


def test_find_study_videos_reads_fakeavceleb_metadata_quirks(tmp_path):
    touch(tmp_path, "RealVideo-RealAudio/African/men/id00076/00109.mp4")
    touch(tmp_path, "FakeVideo-FakeAudio/Asian_East/women/id00080/00110_2_id00200_wavtolip.mp4")
    touch(tmp_path, "FakeVideo-FakeAudio/African/men/id00099/not_in_metadata.mp4")
    # FakeAVCeleb's own file: nine names and a trailing comma; the file name sits under "path", the folder after it.
    (tmp_path / "meta_data.csv").write_text(
        "source,target1,target2,method,category,type,race,gender,path,\n"
        "id00076,-,-,real,A,RealVideo-RealAudio,African,men,00109.mp4,FakeAVCeleb/RealVideo-RealAudio/African/men/id00076\n"
        "id00080,id00200,2,wav2lip,D,FakeVideo-FakeAudio,Asian (East),women,00110_2_id00200_wavtolip.mp4,"
        "FakeAVCeleb/FakeVideo-FakeAudio/Asian (East)/women/id00080\n"
        "id00081,-,-,real,A,RealVideo-RealAudio,African,women,00111.mp4,FakeAVCeleb/RealVideo-RealAudio/African/women/id00081\n",
        encoding="utf-8",
    )

    videos = find_study_videos(tmp_path)

    assert [(video.path, video.cell, video.method) for video in videos] == [
        (
            "FakeVideo-FakeAudio/Asian_East/women/id00080/00110_2_id00200_wavtolip.mp4",
            (FAKE_FAKE, "Asian (East)", "female"),
            "wav2lip",
        ),
        ("RealVideo-RealAudio/African/men/id00076/00109.mp4", (REAL_REAL, "African", "male"), "real"),
    ]


def test_metadata_without_folder_column_rebuilds_the_folder(tmp_path):
    touch(tmp_path, "RealVideo-RealAudio/Caucasian_American/women/id00007/00001.mp4")
    (tmp_path / "meta_data.csv").write_text(
        "source,target1,target2,method,category,type,race,gender,filename\n"
        "id00007,-,-,real,A,RealVideo-RealAudio,Caucasian (American),women,00001.mp4\n",
        encoding="utf-8",
    )

    [video] = find_study_videos(tmp_path)

    assert video.cell == (REAL_REAL, "Caucasian (American)", "female")


def test_metadata_naming_no_present_file_falls_back_to_the_folders(tmp_path):
    touch(tmp_path, "FakeVideo-FakeAudio/African/women/id00009/00001_fake.mp4")
    (tmp_path / "meta_data.csv").write_text(
        "source,target1,target2,method,category,type,race,gender,path,\n"
        "id00076,-,-,real,A,RealVideo-RealAudio,African,men,00109.mp4,FakeAVCeleb/RealVideo-RealAudio/African/men/id00076\n",
        encoding="utf-8",
    )

    [video] = find_study_videos(tmp_path)

    assert video.cell == (FAKE_FAKE, "African", "female")


def test_find_study_videos_without_layout_says_what_it_expected(tmp_path):
    touch(tmp_path, "clips/a.mp4")
    with pytest.raises(StudyLayoutError, match="expected ROOT/<category>/<ethnicity>/<men|women>"):
        find_study_videos(tmp_path)
    with pytest.raises(StudyLayoutError, match="not a folder"):
        find_study_videos(tmp_path / "missing")


def _videos(cell: tuple[str, str, str], count: int) -> list[StudyVideo]:
    return [StudyVideo(f"{'/'.join(cell)}/id{index:05d}/v.mp4", *cell) for index in range(count)]


def test_sample_per_cell_is_capped_seeded_and_independent_of_other_cells():
    african_men = _videos((REAL_REAL, "African", "male"), 12)
    asian_women = _videos((REAL_REAL, "Asian (East)", "female"), 2)

    sample = sample_per_cell(african_men + asian_women, per_group=5, seed=25)

    assert Counter(video.cell for video in sample) == {african_men[0].cell: 5, asian_women[0].cell: 2}
    assert sample == sample_per_cell(list(reversed(african_men + asian_women)), per_group=5, seed=25)
    alone = sample_per_cell(african_men, per_group=5, seed=25)
    assert alone == [video for video in sample if video.cell == african_men[0].cell]
    other_seeds = {tuple(sample_per_cell(african_men, per_group=5, seed=seed)) for seed in range(5)}
    assert len(other_seeds) > 1


def _row(category: str, ethnicity: str, gender: str, confidence: float | None, label: str | None, index: int):
    return StudyVideoRow(
        path=f"{category}/{ethnicity}/{gender}/id{index:05d}/v.mp4",
        category=category,
        ethnicity=ethnicity,
        gender=gender,
        source_id=f"id{index:05d}",
        method="",
        predicted_label=label,
        confidence_pct=confidence,
        correct=None if label is None else label == gender,
        face_frame_share=None if label is None else 1.0,
        frames_analyzed=10,
        frames_with_faces=0 if label is None else 10,
        faces=0 if label is None else 10,
    )


REAL_MEN = [70.0, 75.0, 80.0, 66.0]
FAKE_MEN = [60.0, 62.0, 71.0]


@pytest.fixture
def rows() -> list[StudyVideoRow]:
    real = [_row(REAL_REAL, "African", "male", value, "male", i) for i, value in enumerate(REAL_MEN)]
    real[0].predicted_label, real[0].correct = "female", False
    fake = [_row(FAKE_FAKE, "African", "male", value, "male", 10 + i) for i, value in enumerate(FAKE_MEN)]
    no_face = _row(FAKE_FAKE, "African", "male", None, None, 20)
    return real + fake + [no_face]


def test_summarize_cells_leaves_no_face_videos_out_of_the_figures(rows):
    tree = Counter({(REAL_REAL, "African", "male"): 30, (FAKE_FAKE, "African", "male"): 4})

    real, fake = summarize_cells(rows, tree, seed=25, resamples=2000)

    assert (real.videos_in_tree, real.videos_sampled, real.videos_with_faces) == (30, 4, 4)
    assert real.mean_confidence_pct == pytest.approx(statistics.mean(REAL_MEN))
    assert real.std_confidence_pct == pytest.approx(statistics.stdev(REAL_MEN))
    assert real.accuracy == pytest.approx(0.75)
    assert (fake.videos_sampled, fake.videos_with_faces, fake.videos_without_faces) == (4, 3, 1)
    assert fake.mean_confidence_pct == pytest.approx(statistics.mean(FAKE_MEN))
    assert fake.std_confidence_pct == pytest.approx(statistics.stdev(FAKE_MEN))
    assert fake.mean_ci[0] <= fake.mean_confidence_pct <= fake.mean_ci[1]


def test_compare_real_fake_reports_fake_minus_real_with_numbers(rows):
    [comparison] = compare_real_fake(rows, REAL_REAL, FAKE_FAKE, seed=25, resamples=2000)

    assert (comparison.real_videos, comparison.fake_videos) == (4, 3)
    assert comparison.difference_pct == pytest.approx(statistics.mean(FAKE_MEN) - statistics.mean(REAL_MEN))
    assert comparison.p_value == pytest.approx(stats.ttest_ind(FAKE_MEN, REAL_MEN, equal_var=False).pvalue)
    assert comparison.sentence.startswith(
        f"African men: confidence is {abs(comparison.difference_pct):.1f} points lower"
    )
    assert f"p = {comparison.p_value:.2f}" in comparison.sentence
    assert "4 real and 3 fake videos" in comparison.sentence


def _comparison(difference: float, interval: tuple[float, float] | None, p_value: float | None) -> CellComparison:
    return CellComparison(
        "African", "male", REAL_REAL, FAKE_FAKE, 25, 25, 70.0, 70.0 + difference, difference, interval, 1.0, p_value, ""
    )


def test_describe_comparison_claims_a_difference_only_when_interval_and_p_agree():
    noise = describe_comparison(_comparison(-3.3, (-8.1, 1.5), 0.18))
    clear = describe_comparison(_comparison(6.0, (2.0, 10.1), 0.004))
    borderline = describe_comparison(_comparison(4.0, (-0.2, 8.3), 0.049))

    assert noise == (
        "African men: confidence is 3.3 points lower on fakes (95% CI -8.1 to 1.5, p = 0.18); "
        "this difference is not distinguishable from noise with 25 videos per group."
    )
    assert "6.0 points higher on fakes (95% CI 2.0 to 10.1, p = 0.004)" in clear
    assert "unlikely to be noise alone" in clear
    assert "not distinguishable from noise" in borderline
    assert "Welch's test does not confirm it" in describe_comparison(_comparison(-5.0, (-8.9, -1.2), 0.11))
    assert "too few videos" in describe_comparison(_comparison(1.0, None, None))


def test_write_study_writes_every_output(rows, tmp_path):
    cells_tree = Counter((row.category, row.ethnicity, row.gender) for row in rows)
    settings = StudySettings(
        root="/data/FakeAVCeleb",
        categories=[REAL_REAL, FAKE_FAKE],
        comparison=[REAL_REAL, FAKE_FAKE],
        per_group=25,
        seed=25,
        every_n_frames=2,
        max_frames=None,
        jobs=2,
        detection=asdict(STUDY_DETECTION),
        model={"name": "test-model", "sha256": "0" * 64},
    )
    result = StudyResult(
        settings=settings,
        videos=rows,
        cells=summarize_cells(rows, cells_tree, seed=25, resamples=500),
        comparisons=compare_real_fake(rows, REAL_REAL, FAKE_FAKE, seed=25, resamples=500),
    )

    paths = write_study(result, tmp_path / "out")

    document = json.loads(paths["study.json"].read_text())
    assert len(document["videos"]) == len(rows)
    assert document["settings"]["seed"] == 25
    assert len(paths["study.csv"].read_text().splitlines()) == len(rows) + 1
    markdown = paths["study.md"].read_text()
    assert "## Table 1 — RealVideo-RealAudio" in markdown and "## Table 2 — FakeVideo-FakeAudio" in markdown
    assert "70.84 ± 7.78" in markdown and "67.51 ± 8.75" in markdown
    assert result.comparisons[0].sentence in markdown
    assert "no face found in the analysed frames" in markdown
    for name in ("study.png", "confidence_hist.png"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
