"""Dataset readers: UTKFace names, male/female folders and a labels CSV, built in tmp_path."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from workers.pipeline.datasets import (
    DatasetError,
    FaceRecord,
    filter_min_age,
    read_class_folders,
    read_dataset,
    read_labels_csv,
    read_utkface,
)


def _write_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8))
    return path


def test_read_utkface_parses_age_gender_race_and_counts_unparsable(tmp_path, caplog):
    _write_image(tmp_path / "25_1_2_20170116174525125.jpg.chip.jpg")
    _write_image(tmp_path / "sub" / "61_0_3_20170109142408075.jpg")
    _write_image(tmp_path / "39_1_20170116174525125.jpg.chip.jpg")  # no race field, as in UTKFace itself
    _write_image(tmp_path / "holiday.png")

    records = read_utkface(tmp_path)

    assert sorted((r.age, r.gender, r.race) for r in records) == [(25, 1, 2), (61, 0, 3)]
    assert "skipped 2 files" in caplog.text


def test_read_class_folders_takes_male_and_female_in_any_case(tmp_path):
    _write_image(tmp_path / "Male" / "a.jpg")
    _write_image(tmp_path / "FEMALE" / "nested" / "c.jpeg")
    _write_image(tmp_path / "female" / "d.jpg")
    _write_image(tmp_path / "unknown" / "e.jpg")

    records = read_class_folders(tmp_path)

    genders = {record.path.name: record.gender for record in records}
    assert genders == {"a.jpg": 0, "c.jpeg": 1, "d.jpg": 1}
    assert all(record.race is None and record.age is None for record in records)


def test_read_labels_csv_accepts_codes_and_names_relative_to_its_folder(tmp_path):
    (tmp_path / "labels.csv").write_text(
        "path,gender,race,age,group\nimg/a.jpg,0,White,30,clip-1\nimg/b.jpg,female,2,,\nimg/c.jpg,Male,,17,\n"
    )
    records = read_labels_csv(tmp_path / "labels.csv")
    assert records == [
        FaceRecord(tmp_path / "img/a.jpg", gender=0, race=0, age=30, group="clip-1"),
        FaceRecord(tmp_path / "img/b.jpg", gender=1, race=2, age=None, group=None),
        FaceRecord(tmp_path / "img/c.jpg", gender=0, race=None, age=17, group=None),
    ]
    assert records[0].race_name == "White"


def test_read_labels_csv_uses_a_given_root(tmp_path):
    labels = tmp_path / "meta" / "labels.csv"
    labels.parent.mkdir()
    labels.write_text("path,gender\nx.jpg,1\n")
    assert read_labels_csv(labels, root=tmp_path / "images")[0].path == tmp_path / "images" / "x.jpg"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("path,race\nx.jpg,1\n", "lacks the column"),
        ("path,gender\nx.jpg,maybe\n", "line 2: unknown gender"),
        ("path,gender,race\nx.jpg,0,Martian\n", "unknown race"),
    ],
)
def test_read_labels_csv_refuses_bad_rows_with_the_line(tmp_path, content, message):
    (tmp_path / "labels.csv").write_text(content)
    with pytest.raises(DatasetError, match=message):
        read_labels_csv(tmp_path / "labels.csv")


def test_read_dataset_picks_the_layout(tmp_path):
    utk = tmp_path / "utk"
    _write_image(utk / "40_0_1_20170116174525125.jpg.chip.jpg")
    folders = tmp_path / "folders"
    _write_image(folders / "female" / "x.jpg")
    csv_root = tmp_path / "csv"
    csv_root.mkdir()
    (csv_root / "labels.csv").write_text("path,gender\nx.jpg,male\n")

    assert read_dataset(utk)[0].race == 1
    assert read_dataset(folders)[0].gender == 1
    assert read_dataset(csv_root)[0].path == csv_root / "x.jpg"
    assert read_dataset(csv_root / "labels.csv")[0].gender == 0
    assert read_dataset(tmp_path / "images", labels=csv_root / "labels.csv")[0].path == tmp_path / "images" / "x.jpg"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no labelled images"):
        read_dataset(tmp_path / "empty")


def test_filter_min_age_drops_minors_and_unknown_ages():
    records = [FaceRecord(Path("a"), 0, age=17), FaceRecord(Path("b"), 1, age=18), FaceRecord(Path("c"), 1)]
    assert [r.path.name for r in filter_min_age(records, 18)] == ["b"]
    assert len(filter_min_age(records, None)) == 3
