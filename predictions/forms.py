"""Forms of the site: sign up, the upload's options and a study's options."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm

from .models import ModelVersion
from .selectors import model_version_named, model_versions_available

# The sampling choices offered on Try it now; any value in range is accepted from the API.
EVERY_N_FRAMES_CHOICES = (1, 2, 3, 5, 10, 15, 30)
EVERY_N_FRAMES_MAX = 300
DEFAULT_STUDY_EVERY_N_FRAMES = 5
DEFAULT_STUDY_MAX_FRAMES = 150


def sampling_label(every_n_frames: int) -> str:
    """How a person reads a sampling choice: "Every frame", "Every 2nd frame", "Every 10th frame"."""
    if every_n_frames == 1:
        return "Every frame"
    suffix = "th" if 10 <= every_n_frames % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(every_n_frames % 10, "th")
    return f"Every {every_n_frames}{suffix} frame"


class SignupForm(UserCreationForm):
    """A new account: user name and password twice (Django's own checks)."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)


def model_refusal_message(asked: str) -> str:
    """Why a model name cannot be used: it names none of the available models (listed)."""
    names = ", ".join(version.name for version in model_versions_available()) or "none"
    return f"There is no available model called {asked!r}; the available models are: {names}."


class AvailableModelField(forms.CharField):
    """A model chosen by name (or sha256) among the available ones; empty = the active model (None)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, max_length=100, **kwargs)

    def clean(self, value) -> ModelVersion | None:
        asked = super().clean(value)
        if not asked:
            return None
        version = model_version_named(asked)
        if version is None:
            raise forms.ValidationError(model_refusal_message(asked), code="unknown_model")
        return version


class UploadOptionsForm(forms.Form):
    """The options sent with an upload; the file itself is checked by predictions.validators."""

    every_n_frames = forms.IntegerField(required=False, min_value=1, max_value=EVERY_N_FRAMES_MAX)
    model = AvailableModelField()

    def clean_every_n_frames(self) -> int:
        value = self.cleaned_data.get("every_n_frames")
        return value or settings.GENREC_DEFAULT_EVERY_N_FRAMES


class StudyOptionsForm(forms.Form):
    """How each video of a study batch is sampled; the archive itself is checked by predictions.archives."""

    every_n_frames = forms.IntegerField(required=False, min_value=1, max_value=EVERY_N_FRAMES_MAX)
    max_frames = forms.IntegerField(required=False, min_value=1)
    model = AvailableModelField()

    def clean_every_n_frames(self) -> int:
        return self.cleaned_data.get("every_n_frames") or DEFAULT_STUDY_EVERY_N_FRAMES

    def clean_max_frames(self) -> int | None:
        value = self.cleaned_data.get("max_frames")
        if value is not None and value > settings.GENREC_MAX_VIDEO_FRAMES:
            raise forms.ValidationError(f"at most {settings.GENREC_MAX_VIDEO_FRAMES}")
        return value


class StudyFileForm(forms.Form):
    """The labels sent with one loose study video; services.study_draft_add checks them against the allowed values."""

    draft = forms.CharField(required=False, max_length=32)
    category = forms.CharField(required=False, max_length=40)
    ethnicity = forms.CharField(required=False, max_length=40)
    gender = forms.CharField(required=False, max_length=10)
    path = forms.CharField(required=False, max_length=1000)


class StudyRunForm(StudyOptionsForm):
    """Run a draft study of loose files: which draft, its name and how each video is sampled."""

    draft = forms.CharField(max_length=32)
    name = forms.CharField(required=False, max_length=120)
