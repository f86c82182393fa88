# QTable API server.
#   docker build -t qtable .
#   docker run -p 8000:8000 -e QTABLE_JWT_SECRET="$(openssl rand -base64 48)" qtable
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The code stays owned by root, read-only to the server; only data/ (the SQLite database)
# belongs to the unprivileged user.
RUN groupadd --system --gid 10001 qtable \
    && useradd --system --uid 10001 --gid qtable --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin qtable \
    && mkdir /app/data \
    && chown 10001:10001 /app/data

COPY pyproject.toml README.md alembic.ini ./
COPY app/ app/
COPY alembic/ alembic/
# DL3013 asks for pinned PyPI names; this installs the project itself, whose dependency
# ranges live in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir '.[postgres,redis]' \
    && rm -rf build ./*.egg-info

ENV QTABLE_ENV=production
VOLUME ["/app/data"]
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["sh", "-c", "alembic upgrade head && exec uvicorn app.main:create_app --factory --host 0.0.0.0 --port 8000 --proxy-headers --no-access-log"]
