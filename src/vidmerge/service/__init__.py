"""The server around the engine.

registry.py  template versions: upload, store, prepare; load them (cached) anywhere
renders.py   accept a render (plan at once, same values -> same URLs), erase it
segments.py  single-flight rendering of one dynamic segment (just in time or ahead)
tasks.py     the task code, identical for the embedded pool and Celery workers
queue.py     the embedded in-process pool and the Celery producer
worker.py    the Celery app and `vidmerge worker`
api.py       /v1 management endpoints and the MA webhook
delivery.py  public token URLs: landing page, playlist, segments, MP4, poster, GIF
app.py       FastAPI wiring: lifespan, problem+json, health, metrics
"""
