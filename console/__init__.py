"""The operator's console: an HTTP API, Prometheus metrics and a web page (FastAPI on uvicorn),
served by ``newsrelay run`` when ``[http] listen`` is set, or alone by ``newsrelay serve``."""
