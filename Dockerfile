# newsrelay as a container. The install steps are the ones CI runs (pip install of this
# project), so CI exercises them even though no Docker engine runs on the CI machines.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NEWSRELAY_CONFIG=/config/newsrelay.toml \
    NEWSRELAY_DATABASE_URL=sqlite:////data/newsrelay.db

WORKDIR /app
COPY pyproject.toml README.md scrapy.cfg ./
COPY crawler ./crawler
COPY console ./console
COPY publisher ./publisher
COPY scheduler ./scheduler
COPY storage ./storage
RUN pip install --upgrade pip && pip install '.[postgres,cluster]'

# Run as an unprivileged user; the database and logs live on the /data volume.
RUN useradd --system --uid 10001 --home-dir /data newsrelay \
    && mkdir -p /data /config && chown newsrelay /data
COPY newsrelay.toml /config/newsrelay.toml
USER newsrelay
VOLUME ["/data"]

# The daemon closes crawls in flight on SIGTERM (daemon.stop_timeout, 30 s by default): give
# `docker stop` more than that, e.g. `docker stop -t 60`, or stop_grace_period in compose.
STOPSIGNAL SIGTERM
# Healthy while the daemon writes its heartbeat (every daemon.heartbeat, 30 s by default).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["newsrelay", "health"]
ENTRYPOINT ["newsrelay", "--log-format", "json"]
CMD ["run"]
