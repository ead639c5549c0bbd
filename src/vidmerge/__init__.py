"""vidmerge: a self-hosted, real-time personalized video server.

The folders follow the data flow; docs/architecture.md is the full map (each module, what it
owns, and the import rules tests/test_layout.py checks):

    template/    template bundle -> validated Template (manifest, files, media, fonts, zip safety)
    resolver/    customer data -> typed, computed values with explanations
    draw/        values -> what each slot draws (slots/: one module per kind) -> RGBA layers
    plan.py      prepared version + drawn values -> RenderPlan (pure: segments, cache keys)
    engine/      prepare once, encode dynamic segments, package and verify (ffmpeg runs in ffmpeg.py)
    storage/     where segments and outputs live (local directory, S3, memory)
    records.py   metadata: one SQLAlchemy gateway per noun (migrations/ beside it)
    service/     the server: the domain modules, http/ (callers, viewers, console), work/ (queues)
    bench/       `vidmerge bench` and the demo template

Beside them: cli.py (the command), client.py, config.py, errors.py, logs.py and yamlfile.py.
"""

__version__ = "0.1.0"
