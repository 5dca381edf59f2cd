"""Serving a saved model over HTTP (``mtl-text serve``; the ``serve`` extra: FastAPI and uvicorn):
dynamic batching of concurrent requests (:mod:`.batching`) and the application (:mod:`.app`)."""
