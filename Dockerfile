# GEN_REC image: one image for web (daphne), worker and beat (Celery); docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATIC_MANIFEST=1

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app genrec

# Requirements first: code changes then reuse this layer.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# collectstatic loads the settings, which refuse to start without a secret: a throwaway one for this step only.
RUN SECRET_KEY=collectstatic-at-build-time-only python manage.py collectstatic --noinput \
    && mkdir -p var/media var/beat \
    && chown -R genrec:genrec var

USER genrec
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "genrec_site.asgi:application"]
