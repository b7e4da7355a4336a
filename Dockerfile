# Roundtable in a container: python run.py on 0.0.0.0:8000 as an unprivileged user.
#   docker build -t roundtable .
#   docker run -p 8000:8000 -v roundtable-data:/app/data roundtable
# compose.yaml runs two of these on PostgreSQL behind nginx; docs/deploy.md has the rest.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 roundtable \
 && useradd --system --uid 10001 --gid roundtable --home-dir /app --no-create-home roundtable

WORKDIR /app

# The exact, hashed versions that were tested; a layer of its own, rebuilt only when the
# lock changes.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY pyproject.toml README.md settings.py run.py ./
COPY actors ./actors
COPY storage ./storage
COPY web ./web
# The project itself without dependencies (they all came from the lock): the roundtable
# command; `pip check` fails the build if the lock misses one.
RUN pip install --no-deps . && pip check \
 && mkdir -p /app/data && chown roundtable:roundtable /app/data

USER roundtable

# In a container: listen on every interface; SQLite in the volume unless DATABASE_URL says
# otherwise (compose.yaml sets a PostgreSQL one).
ENV HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite:////app/data/roundtable.db
VOLUME ["/app/data"]
EXPOSE 8000

# Liveness from inside the container; https when TLS_CERTFILE is set (the certificate is
# the service's own, so it is not verified here).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, ssl, urllib.request; tls = bool(os.environ.get('TLS_CERTFILE')); url = ('https' if tls else 'http') + '://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz'; urllib.request.urlopen(url, timeout=4, context=ssl._create_unverified_context() if tls else None)"]

# SIGTERM (docker stop) is a clean shutdown: visitors get 1001, the engine stops in order.
STOPSIGNAL SIGTERM
CMD ["python", "run.py"]
