"""vidmerge: a self-hosted, real-time personalized video server.

The data flow, and where each step lives (docs/architecture.md draws it):

    template/    template bundle -> validated Template (manifest, media, fonts, zip safety)
    resolver/    customer data -> typed, computed values with explanations
    draw/        values -> what each slot draws (slots/: one module per kind) -> RGBA layers
    plan.py      prepared version + drawn values -> RenderPlan (pure: segments, cache keys)
    engine/      prepare the mezzanine once; encode dynamic segments; package HLS, MP4, poster,
                 GIF and verify them (argv.py builds every ffmpeg command, ffmpeg.py runs it)
    storage/     where segments and outputs live (local directory or S3)
    records.py   metadata: templates, renders, leases, audit (SQLAlchemy gateways)
    service/     the server: HTTP (http/), queues and workers (work/), delivery
    bench/       `vidmerge bench` and the demo template
"""

__version__ = "0.1.0"
