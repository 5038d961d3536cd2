"""Websocket routes: the live progress of one job."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/jobs/<uuid:public_id>/", consumers.JobProgressConsumer.as_asgi()),
]
