"""Top-level URLs: the app, accounts, admin. No public media alias: files go through owner-checked views."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("predictions.urls")),
    path("", include("predictions.api_v1.urls")),
    path("accounts/", include("predictions.account_urls")),
    path("admin/", admin.site.urls),
]
