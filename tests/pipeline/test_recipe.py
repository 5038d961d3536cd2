"""Model recipes: training and inference make the same vectors; a recipe model round-trips; old manifests are plain."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from workers.management.commands.train_model import model_choices, with_recipe_defaults
from workers.pipeline.analysis import Analyzer
from workers.pipeline.face_extraction import extract_faces, file_md5, pad_image
from workers.pipeline.features import pixel_features
from workers.pipeline.model import MANIFEST_FILE, ModelIntegrityError, load_model, save_model
from workers.pipeline.preprocessing import face_vectors, scaled_vector
from workers.pipeline.recipe import PLAIN_RECIPE, recipe_from_manifest
from workers.pipeline.synthetic import astronaut_bgr, write_face_collection
from workers.pipeline.training import NAMED_RECIPES, TrainingOptions, train_and_save
from workers.pipeline.types import Box

pytestmark = pytest.mark.timeout(300)

SHIPPED = "splitlin-aligned-pixels50-hog-250"  # the default model's recipe
RECIPE = NAMED_RECIPES[SHIPPED]["recipe"]
FACES = 60


@pytest.fixture(scope="module")
def recipe_model(tmp_path_factory) -> tuple[Path, dict, list]:
    """A tiny model of the shipped recipe (aligned pixels50+HOG, fixed rbf SVM, mirrored) trained on generated faces."""
    folder = tmp_path_factory.mktemp("recipe")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENREC_CACHE_DIR", str(folder / "cache"))
        records = write_face_collection(folder / "faces", FACES)
        named = NAMED_RECIPES[SHIPPED]
        options = TrainingOptions(
            recipe=named["recipe"], svm=named["svm"], flip=True, n_components=10, n_jobs=1, search_folds=2
        )
        manifest = train_and_save(records, folder / "model", options, source="generated", command="make test")
    return folder / "model", manifest, records


def test_the_manifest_records_the_recipe_and_the_fitted_gamma(recipe_model):
    directory, manifest, _ = recipe_model
    assert manifest["recipe"]["features"] == ["pixels50", "hog"]
    assert manifest["recipe"]["n_features"] == 2500 + 2916
    assert manifest["recipe"]["alignment"]["cascade"] == "eye"
    assert manifest["recipe"]["alignment"]["eye_columns"] == [[0.1, 0.5], [0.5, 0.9]]
    assert manifest["parameters"]["svm"]["gamma"] == "scale" and manifest["parameters"]["svm"]["gamma_fitted"] > 0
    assert manifest["search"]["candidates"] == 0
    assert load_model(directory).recipe == RECIPE


def test_training_and_inference_give_the_same_vector(recipe_model, tmp_path, monkeypatch):
    directory, _, records = recipe_model
    monkeypatch.setenv("GENREC_CACHE_DIR", str(tmp_path))
    options = TrainingOptions(recipe=RECIPE)
    trained = extract_faces(records[:6], options)
    model = load_model(directory)
    cache = json.loads(next(tmp_path.glob("boxes-*.json")).read_text())
    for record, vector in zip(trained.records, trained.vectors, strict=True):
        gray = pad_image(cv2.imread(str(record.path), cv2.IMREAD_GRAYSCALE), options.pad, options.pad_mode)
        box = Box(*cache[file_md5(record.path)])
        np.testing.assert_array_equal(model.face_vectors(gray, [box])[0], vector)
    assert trained.vectors.shape[1] == RECIPE.n_features == 2500 + 2916


def test_a_recipe_model_round_trips_and_predicts_like_scikit_learn(recipe_model, tmp_path):
    directory, manifest, _ = recipe_model
    model = load_model(directory)
    gray = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2GRAY)
    boxes = [Box(170, 40, 180, 180), Box(150, 30, 220, 220)]
    vectors = model.face_vectors(gray, boxes)
    assert model.compiled is not None
    expected = model.estimator.predict_proba(vectors)[:, 1]
    np.testing.assert_allclose(model.predict_p_female(vectors), expected, rtol=0, atol=1e-4)
    save_model(model.estimator, tmp_path, {k: v for k, v in manifest.items() if k != "sha256"})
    again = load_model(tmp_path)
    assert again.recipe == model.recipe
    np.testing.assert_array_equal(
        again.predict_p_female(again.face_vectors(gray, boxes)), model.predict_p_female(vectors)
    )
    faces = Analyzer(model).classify(gray, boxes)
    assert [face.p_female for face in faces] == pytest.approx(list(model.predict_p_female(vectors)), abs=1e-12)


def test_old_manifests_load_as_the_plain_recipe(recipe_model, tmp_path):
    _, manifest, _ = recipe_model
    assert recipe_from_manifest({"name": "study"}) is PLAIN_RECIPE
    plain = {k: v for k, v in manifest.items() if k != "recipe"}
    assert recipe_from_manifest(plain) == PLAIN_RECIPE
    gray = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2GRAY)
    boxes = [Box(170, 40, 180, 180)]
    np.testing.assert_array_equal(PLAIN_RECIPE.face_vectors(gray, boxes), face_vectors(gray, boxes))


def test_the_feature_step_gives_the_study_vectors_bit_for_bit_for_plain_faces():
    rng = np.random.default_rng(2)
    faces = rng.integers(0, 256, size=(5, 100, 100), dtype=np.uint8)
    faces[4] = 77  # a flat face scales to zeros both ways
    np.testing.assert_array_equal(pixel_features(faces), np.stack([scaled_vector(face) for face in faces]))
    np.testing.assert_array_equal(PLAIN_RECIPE.features_of(faces), pixel_features(faces))


def test_a_manifest_whose_recipe_does_not_fit_the_model_is_refused(recipe_model, tmp_path):
    directory, manifest, _ = recipe_model
    model = load_model(directory)
    save_model(model.estimator, tmp_path, {k: v for k, v in manifest.items() if k not in ("recipe", "sha256")})
    with pytest.raises(ModelIntegrityError, match=str(RECIPE.n_features)):
        load_model(tmp_path)
    broken = json.loads((directory / MANIFEST_FILE).read_text())
    broken["recipe"]["features"] = ["pixels", "colour"]
    (tmp_path / MANIFEST_FILE).write_text(json.dumps({**broken, "sha256": load_model(directory).sha256}))
    (tmp_path / "model.joblib").write_bytes((directory / "model.joblib").read_bytes())
    with pytest.raises(ModelIntegrityError, match="recipe"):
        load_model(tmp_path)


def test_the_tracker_reads_the_plain_crop_whatever_the_recipe(recipe_model):
    # An aligned face and the plain crop of the same face are far apart as pixels: a descriptor read from the
    # model's own (aligned) face would jump whenever the eyes are found in one frame and not in the next.
    directory, _, _ = recipe_model
    model = load_model(directory)
    gray = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2GRAY)
    boxes = [Box(177, 66, 95, 95)]  # the astronaut's face, whose eyes the eye search finds
    pixels = model.recipe.tracking_pixels(gray, boxes, model.face_vectors(gray, boxes))
    np.testing.assert_array_equal(pixels, face_vectors(gray, boxes))  # the study's crop, min-max scaled
    aligned = pixel_features(model.recipe.faces(gray, boxes))
    assert np.abs(aligned - pixels).mean() > 0.01  # what it is not: the aligned face
    plain = load_model(Path(__file__).resolve().parents[2] / "models" / "study")  # the plain recipe
    vectors = plain.face_vectors(gray, boxes)
    np.testing.assert_array_equal(plain.recipe.tracking_pixels(gray, boxes, vectors), pixels)


def test_train_model_takes_a_named_recipe_with_its_pca_size_and_mirroring(tmp_path):
    named = NAMED_RECIPES[SHIPPED]
    given = {"recipe": SHIPPED, "preset": None, "grid": None, "components": None, "whiten": None}
    given.update(balance=None, flip=None, min_age=None)
    choices = model_choices(with_recipe_defaults(given, named))
    assert (choices["components"], choices["flip"]) == (250, True)
    choices = model_choices(with_recipe_defaults({**given, "components": 40}, named))
    assert choices["components"] == 40
    with pytest.raises(CommandError, match="two models"):
        call_command("train_model", data=tmp_path, recipe=SHIPPED, preset="study", out=tmp_path)


def test_evaluate_model_held_out_scores_a_recipe_model_as_training_did(recipe_model, tmp_path, monkeypatch):
    directory, manifest, records = recipe_model
    monkeypatch.setenv("GENREC_CACHE_DIR", str(tmp_path / "cache"))
    folder = records[0].path.parent
    rows = [f"{r.path.name},{r.gender},{r.race},{r.age}" for r in records]
    (folder / "labels.csv").write_text("path,gender,race,age\n" + "\n".join(rows) + "\n")
    target = tmp_path / "held_out.json"
    call_command("evaluate_model", data=folder, model=directory, json=target, held_out=True)
    metrics = json.loads(target.read_text())
    assert metrics["n"] + metrics["no_face"] == manifest["training_data"]["test_images"]
    assert metrics["accuracy"] == pytest.approx(manifest["metrics"]["accuracy"], abs=1e-12)
    assert metrics["roc_auc"] == pytest.approx(manifest["metrics"]["roc_auc"], abs=1e-12)


def test_a_recipe_of_half_resolution_pixels_and_a_linear_eye_search_survives_its_manifest():
    from dataclasses import replace

    from workers.pipeline.alignment import AlignmentSettings
    from workers.pipeline.preprocessing import Preprocessing
    from workers.pipeline.recipe import Recipe

    alignment = replace(AlignmentSettings(), scale_factor=1.2, min_neighbors=2, work_interpolation="linear")
    recipe = Recipe(Preprocessing(alignment), ("pixels50", "hog"))
    assert recipe.n_features == 2500 + 2916
    again = recipe_from_manifest({"recipe": json.loads(json.dumps(recipe.to_manifest()))})
    assert again == recipe
    gray = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2GRAY)
    assert again.face_vectors(gray, [Box(177, 66, 95, 95)]).shape == (1, recipe.n_features)
