# signed-mirror: `mirror serve` (gunicorn) on :8080, state in the /data volume.
#   docker build -t signed-mirror . && docker run -p 8080:8080 -v mirror-data:/data signed-mirror
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Dependencies first (cached layer), only from the hash-locked set.
COPY requirements/main.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself, without resolving anything more.
COPY pyproject.toml /tmp/src/
COPY mirror /tmp/src/mirror
COPY tuf_repo /tmp/src/tuf_repo
RUN pip install --no-cache-dir --no-deps --no-build-isolation /tmp/src \
    && rm -rf /tmp/src

RUN useradd --system --no-log-init --uid 10001 --user-group --home-dir /data mirror \
    && mkdir -p /data \
    && chown mirror:mirror /data

ENV MIRROR_STORAGE_PATH=/data \
    MIRROR_SERVER_BIND=0.0.0.0:8080
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["mirror", "serve", "--bind", "0.0.0.0:8080"]
