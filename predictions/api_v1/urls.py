"""URLs of the public API (/api/v1/…, its OpenAPI document and docs) and of the account's API keys page."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import account, views_jobs, views_other
from .waiting import with_wait

API = "api/v1/"

urlpatterns = [
    path(f"{API}me/", views_other.Me.as_view(), name="api-v1-me"),
    path(f"{API}jobs/", views_jobs.JobListCreate.as_view(), name="api-v1-jobs"),
    path(f"{API}jobs/<uuid:public_id>/", with_wait(views_jobs.JobDetail.as_view()), name="api-v1-job"),
    path(f"{API}jobs/<uuid:public_id>/cancel/", views_jobs.JobCancel.as_view(), name="api-v1-job-cancel"),
    path(f"{API}jobs/<uuid:public_id>/results/", views_jobs.JobResults.as_view(), name="api-v1-job-results"),
    path(f"{API}jobs/<uuid:public_id>/results.csv", views_jobs.JobResultsCsv.as_view(), name="api-v1-job-csv"),
    path(
        f"{API}jobs/<uuid:public_id>/frames/<int:frame_index>.jpg",
        views_jobs.JobFrame.as_view(),
        name="api-v1-job-frame",
    ),
    path(f"{API}jobs/<uuid:public_id>/webhook/", views_jobs.JobWebhookLog.as_view(), name="api-v1-job-webhook"),
    path(f"{API}models/", views_other.ModelList.as_view(), name="api-v1-models"),
    path(f"{API}studies/", views_other.StudyCreate.as_view(), name="api-v1-studies"),
    path(f"{API}studies/<uuid:public_id>/", views_other.StudyDetail.as_view(), name="api-v1-study"),
    path(f"{API}studies/<uuid:public_id>/files/<str:name>", views_other.StudyFile.as_view(), name="api-v1-study-file"),
    path(f"{API}schema/", SpectacularAPIView.as_view(), name="api-v1-schema"),
    path(f"{API}docs/", SpectacularSwaggerView.as_view(url_name="api-v1-schema"), name="api-v1-docs"),
    path(f"{API}redoc/", SpectacularRedocView.as_view(url_name="api-v1-schema"), name="api-v1-redoc"),
    path("accounts/api-keys/", account.api_keys, name="api-keys"),
    path("accounts/api-keys/<int:key_id>/revoke/", account.api_key_revoke_view, name="api-key-revoke"),
]
