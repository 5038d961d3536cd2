"""Celery tasks and management commands around the pure-Python pipeline in workers.pipeline."""
