# watcher: the service (scheduler, alerts and web UI) in one container.
#
#   docker compose up -d            (see docker-compose.yml and the README's Docker section)
#
# BASE is a build argument so that CI can build on a local base image; users get
# the official one. CHROMIUM=1 adds Debian's chromium for `fetch: browser` targets.
# EXTRAS are the optional parts installed: the team store (postgres), `watcher worker`
# and `watcher dispatch` (queue) and blobs in a bucket (s3); EXTRAS= builds the
# embedded service alone.
ARG BASE=python:3.12-slim-bookworm

FROM ${BASE} AS build
ARG CHROMIUM=0
ARG EXTRAS=postgres,queue,s3
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY watcher ./watcher
RUN python -m venv /venv \
 && extras="$EXTRAS" \
 && if [ "$CHROMIUM" = "1" ]; then extras="${extras:+$extras,}browser"; fi \
 && /venv/bin/pip install --quiet ".${extras:+[$extras]}" \
 && find /venv -name '__pycache__' -prune -exec rm -rf {} +

FROM ${BASE}
ARG CHROMIUM=0
ARG VERSION=0.1.0
ARG SOURCE=local
LABEL org.opencontainers.image.title="watcher" \
      org.opencontainers.image.description="Change monitoring for government web pages" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
RUN if [ "$CHROMIUM" = "1" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends chromium fonts-noto-cjk \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin watcher \
 && mkdir -p /data /config/notifiers \
 && chown watcher /data
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8 \
    WATCHER_CONFIG=/config/targets.yaml \
    WATCHER_NOTIFIERS=/config/notifiers \
    WATCHER_DATA=/data \
    WATCHER_HOST=0.0.0.0 \
    WATCHER_PORT=8080
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:' + os.environ.get('WATCHER_PORT', '8080') + '/healthz'; sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
# watcher handles SIGTERM itself (PID 1): running checks finish, the outbox is flushed
CMD ["watcher", "run"]
