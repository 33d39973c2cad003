# rebalance-bot image: the daemon in paper mode (a dry run) unless the mounted config says otherwise.
#
#   docker build -t rebalance-bot:local .
#   docker run --rm -v rebalance-journal:/data -v "$PWD/config/docker.toml:/config/bot.toml:ro" \
#       -p 127.0.0.1:9108:9108 rebalance-bot:local
#
# No secret is ever baked in: API keys come from the environment (REBALANCE_EXCHANGE__API_KEY,
# REBALANCE_EXCHANGE__SECRET) or from Docker secrets (REBALANCE_EXCHANGE__API_KEY_FILE=...).
# tests/e2e/test_docker_replay.py replays the build stage's COPY and RUN steps in a fresh venv.

# ---- build: install the project and its dependencies (from pyproject.toml) into a venv ----------
FROM python:3.11.17-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /opt/venv/bin/pip install --no-cache-dir .

# ---- runtime: the venv, the shipped configs and scenarios, a non-root user ----------------------
FROM python:3.11.17-slim-bookworm

ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HEALTHCHECK_URL="http://127.0.0.1:9108/healthz"

RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin bot \
    && mkdir -p /data /config \
    && chown bot:bot /data

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY config ./config
# The default configuration (paper mode); mount your own over /config/bot.toml.
COPY config/docker.toml /config/bot.toml

# The journal (SQLite) and the paper account live here: keep it on a volume.
VOLUME ["/data"]
# Prometheus metrics (/metrics) and the health check (/healthz), when [metrics] enabled = true.
EXPOSE 9108

USER 10001:10001

# Healthy while the last poll is at most 3 poll intervals old. It needs [metrics] enabled = true on
# port 9108 (or HEALTHCHECK_URL set to match); without metrics the container reports unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import json, os, sys, urllib.error, urllib.request\ntry:\n    body = json.load(urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4))\nexcept urllib.error.HTTPError as exc:\n    body = json.load(exc)\nexcept Exception as exc:\n    sys.exit(print(f'unhealthy: no answer from the bot ({exc})') or 1)\nprint(f\"{body['status']}: {body['reason']}\")\nsys.exit(0 if body['status'] == 'ok' else 1)"]

ENTRYPOINT ["rebalance-bot"]
CMD ["run", "--config", "/config/bot.toml"]
