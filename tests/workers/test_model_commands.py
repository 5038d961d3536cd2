"""Commands that name models: train_model's study preset, run_study --model NAME."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from workers.management.commands.run_study import study_model_dir
from workers.management.commands.train_model import MODEL_CHOICES, model_choices


def command_options(**given) -> dict:
    return {"preset": None, **dict.fromkeys(MODEL_CHOICES), **given}


def test_study_preset_is_the_studys_plain_eigenfaces():
    assert model_choices(command_options(preset="study")) == {
        "grid": "study",
        "components": 50,
        "whiten": False,
        "balance": "none",
        "flip": False,
        "min_age": None,
    }


def test_options_given_beside_a_preset_are_refused():
    with pytest.raises(CommandError, match="--preset study fixes --components, --flip: leave them out"):
        model_choices(command_options(preset="study", components=150, flip=True))
    with pytest.raises(CommandError, match="--preset study fixes --components"):
        call_command(
            "train_model", "--preset", "study", "--components", "150", "--data", "nowhere", stderr=io.StringIO()
        )


def test_without_a_preset_the_given_options_win_over_the_defaults():
    assert model_choices(command_options(components=150, flip=True)) == {
        **MODEL_CHOICES,
        "components": 150,
        "flip": True,
    }


def test_run_study_takes_an_installed_model_by_name(installed_models):
    assert study_model_dir("eigen-b") == installed_models / "eigen-b"
    assert study_model_dir(str(installed_models / "eigen-a")) == installed_models / "eigen-a"
    with pytest.raises(CommandError, match="no model called 'nope': the installed models are eigen-a, eigen-b"):
        study_model_dir("nope")


def test_run_study_without_a_model_uses_genrec_model_dir(installed_models):
    assert study_model_dir(None) == installed_models / "eigen-a"
