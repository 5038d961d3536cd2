"""Top-level URLs: the app, accounts, admin. No public media alias: files go through owner-checked views."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from predictions.metrics import metrics_view

urlpatterns = [
    path("", include("predictions.urls")),
    path("", include("predictions.api_v1.urls")),
    path("accounts/", include("predictions.account_urls")),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    # Browsers ask for /favicon.ico where no page names an icon (the admin, a downloaded file): the static one.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.ico")), name="favicon"),
]
