"""vidmerge: a self-hosted, real-time personalized video server.

The data flow, and where each step lives:

    bundle.py    template bundle -> validated Template (manifest + files)
    resolver/    customer data -> typed, computed values with explanations
    plan.py      Template + values -> RenderPlan (pure: segments, cache keys)
    prepare.py   base clip -> mezzanine segments on a fixed grid (once per version)
    overlay.py   slot values -> RGBA layers drawn with Pillow (typography.py, fonts.py)
    render.py    RenderPlan -> dynamic segments (ffmpeg.py is the one place ffmpeg runs)
    package.py   segments -> HLS playlist, MP4, poster, GIF (verify.py checks them)
    storage/     where segments and outputs live (local directory or S3)
    records.py   metadata: templates, renders, segment leases, audit (SQLAlchemy)
    service/     HTTP API, queues and workers, delivery
"""

__version__ = "0.1.0"
