"""The server around the engine (docs/architecture.md lists each module).

The domain modules sit here: runtime.py (what a process needs, built once), registry.py
(template versions), renders.py, campaigns.py, analytics.py, webhooks.py and pushers.py (events
out to endpoints and MA tools), and their helpers. Two adapters drive them: http/ (FastAPI
routers for callers, viewers, the console and the MA tools' integrations/; wired in app.py) and
work/ (the queue, the Celery worker, the tasks, the segment scheduler, single flight).
"""
