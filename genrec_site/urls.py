"""Top-level URLs: the app, accounts, admin. No public media alias: files go through owner-checked views."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("predictions.urls")),
    path("accounts/", include("predictions.account_urls")),
    path("admin/", admin.site.urls),
]
