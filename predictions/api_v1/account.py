"""The account page of API keys: create (shown once), list and revoke — by session only, never by a key."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from predictions.models_api import ApiKey

from .keys import api_key_create, api_key_list_for_user, api_key_revoke


class ApiKeyForm(forms.Form):
    """A name to recognise the key by, and what it may do."""

    name = forms.CharField(max_length=80, help_text="For you to recognise it, e.g. “lab notebook”.")
    scope = forms.ChoiceField(choices=ApiKey.Scope.choices, initial=ApiKey.Scope.READ, widget=forms.RadioSelect)


@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    """List the person's keys; a POST creates one and shows it once."""
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        new_key = api_key_create(owner=request.user, **form.cleaned_data)
        form = ApiKeyForm()
    context = {"form": form, "new_key": new_key, "keys": api_key_list_for_user(user=request.user)}
    response = render(request, "account/api_keys.html", context, status=201 if new_key else 200)
    response["Cache-Control"] = "no-store"  # the page may carry a key that is shown once
    return response


@login_required
@require_POST
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    """Revoke one of the person's keys at once (someone else's key id does nothing)."""
    if api_key_revoke(owner=request.user, key_id=key_id):
        messages.success(request, "The key was revoked: it no longer works.")
    return redirect("api-keys")
