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
COPY scheduler ./scheduler
COPY storage ./storage
RUN pip install --upgrade pip && pip install '.[postgres]'

# Run as an unprivileged user; the database and logs live on the /data volume.
RUN useradd --system --uid 10001 --home-dir /data newsrelay \
    && mkdir -p /data /config && chown newsrelay /data
COPY newsrelay.toml /config/newsrelay.toml
USER newsrelay
VOLUME ["/data"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["newsrelay"]
# Until the daemon lands (`newsrelay run`), the container crawls every source once.
CMD ["crawl", "--all"]
