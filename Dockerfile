# LibStaff web image: gunicorn serving libstaff.wsgi, static files by whitenoise.
# Configuration comes from the environment (README); docker-compose.yml runs it with a
# PostgreSQL server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=libstaff.settings \
    MEDIA_ROOT=/data/media \
    WEB_CONCURRENCY=2

WORKDIR /app

# The dependencies first, in a layer that changes only with pyproject.toml.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself (no dev extra). Editable, so that the code runs from /app,
# next to templates/ and static/.
COPY . .
RUN pip install --no-deps -e .

# Static files are collected at build time; production settings need a secret key and a
# database URL to load, and use neither here.
RUN DJANGO_ENV=production \
    SECRET_KEY=collectstatic-only-not-a-secret \
    DATABASE_URL=postgres://build@localhost:5432/build \
    python manage.py collectstatic --noinput --verbosity 0

RUN useradd --system --uid 10001 --user-group --no-create-home libstaff \
    && mkdir -p /data/media \
    && chown libstaff:libstaff /data/media
USER libstaff

EXPOSE 8000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
# gunicorn takes its worker count from WEB_CONCURRENCY.
CMD ["gunicorn", "libstaff.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
