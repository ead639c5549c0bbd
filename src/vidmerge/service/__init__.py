"""The server around the engine.

runtime.py   everything a process needs, built once from the settings
registry.py  template versions: upload, store, prepare; load them (cached) anywhere
renders.py   accept a render (plan at once), finish it, erase it
metrics.py   the Prometheus metrics
app.py       FastAPI wiring: lifespan, problem+json, health, metrics

http/        what callers and viewers reach
  api.py           /v1 management endpoints and the MA webhook
  auth.py          webhook signatures and API keys
  delivery.py      public token URLs: landing page, playlist, segments, MP4, poster, GIF
  page.py          the landing page
  integrations/    MA tools' own request shapes (one module per tool)
work/        what runs renders
  tasks.py         the task code, identical for the embedded pool and Celery workers
  queue.py         the embedded in-process pool and the Celery producer
  worker.py        the Celery app and `vidmerge worker`
  scheduler.py     earliest deadline first for dynamic segments, across renders
  segments.py      single-flight encoding of one dynamic segment (just in time or ahead)
"""
