"""URLs of the three pages, the user's jobs and their results."""

from django.urls import path

from . import api, study_views, views

urlpatterns = [
    path("", views.welcome, name="welcome"),
    path("concept/", views.concept, name="concept"),
    path("concept/figures/<str:name>", views.model_figure, name="model-figure"),
    path("try/", views.try_it, name="try"),
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/<uuid:public_id>/", views.job_detail, name="job-detail"),
    path("healthz", api.healthz, name="healthz"),
    path("api/jobs/", api.job_upload, name="job-upload"),
    path("api/jobs/<uuid:public_id>/", api.job_snapshot_view, name="job-snapshot"),
    path("jobs/<uuid:public_id>/result.json", api.job_result_json, name="job-result-json"),
    path("jobs/<uuid:public_id>/result.csv", api.job_result_csv, name="job-result-csv"),
    path("jobs/<uuid:public_id>/frames/<int:frame_index>.jpg", api.job_frame, name="job-frame"),
    path("jobs/<uuid:public_id>/cancel/", api.job_cancel_view, name="job-cancel"),
    path("jobs/<uuid:public_id>/delete/", api.job_delete_view, name="job-delete"),
    path("studies/", study_views.study_index, name="study-index"),
    path("studies/<uuid:public_id>/", study_views.study_detail, name="study-detail"),
    path("studies/<uuid:public_id>/files/<str:name>", study_views.study_file, name="study-file"),
    path("api/studies/", study_views.study_upload, name="study-upload"),
    path("api/studies/files/", study_views.study_file_add, name="study-file-add"),
    path("api/studies/run/", study_views.study_draft_run, name="study-draft-run"),
]
