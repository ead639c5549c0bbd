"""The `vidmerge` command: serve, worker, render, campaign, bench, demo.

Settings are read from the environment once, here, and passed down.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidmerge.config import Settings
from vidmerge.engine import ffmpeg
from vidmerge.errors import VidmergeError


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        ffmpeg.use(settings.ffmpeg)  # the binary every command runs, checked once
        return int(args.func(args, settings) or 0)
    except VidmergeError as exc:
        problem: dict[str, Any] = {
            "error": type(exc).__name__,
            "detail": exc.message,
            "retryable": exc.retryable,
        }
        if exc.problems:
            problem["problems"] = [{"where": p.where, "reason": p.reason} for p in exc.problems]
        print(json.dumps(problem, ensure_ascii=False, indent=2), file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidmerge", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("render", help="render one personalized video from a template and a data file")
    p.add_argument("template", type=Path, help="template bundle folder or .zip")
    p.add_argument("--data", type=Path, required=True, help="JSON file with the customer's data")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--parallel", type=int, default=4, help="segments rendered at once, one thread each (default 4)")
    p.set_defaults(func=_render)

    p = sub.add_parser("bench", help="measure the reference workload R30 against its baselines")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    p.add_argument("--skip-moviepy", action="store_true", help="skip the slow moviepy baselines M")
    p.add_argument("--segment-seconds", type=float, default=None, help="override the template's segment grid")
    p.add_argument("--campaign-rows", type=int, default=20, help="rows of each live campaign (default 20; 0: none)")
    p.add_argument("--viewers", type=int, default=4, help="largest crowd of fresh viewers: 4, 8, 16, ... up to N")
    p.add_argument("--bulk-rows", type=int, default=40, help="rows of the campaign 4 viewers arrive during (0: none)")
    p.add_argument("--mixed-rows", type=int, default=24, help="rows of bulk work renders arrive during (0: none)")
    p.add_argument(
        "--resolution", choices=("720p", "1080p", "vertical"), default="720p", help="R30's base clip and layout"
    )
    p.add_argument("--seconds", type=float, default=30.0, help="length of R30's base clip (its slots stay)")
    p.set_defaults(func=_bench)

    p = sub.add_parser("demo", help="write the demo template, its base clip generated, into a folder")
    p.add_argument("dest", type=Path, help="folder to write (files already there are kept)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("campaign", help="render a CSV of customers on a running server; write their links to a CSV")
    p.add_argument("template_id")
    p.add_argument("file", type=Path, help="the CSV: UTF-8 (with or without BOM) or Shift_JIS/CP932")
    p.add_argument("--out", type=Path, required=True, help="results CSV to write (in the upload's encoding)")
    p.add_argument("--server", default=None, help="the API's URL (default: VIDMERGE_PUBLIC_BASE_URL or host:port)")
    p.add_argument("--mapping", type=json.loads, default=None, help='JSON {"column": "input"}')
    p.add_argument("--campaign", default=None, help="add the rows to this campaign (corrected rows)")
    p.add_argument("--api-key", default=None, help="default: the first of VIDMERGE_API_KEYS")
    p.add_argument("--retry-seconds", type=float, default=300.0,
                   help="how long a call is tried again while the server cannot be reached (default 300)")  # fmt: skip
    p.set_defaults(func=_campaign)

    p = sub.add_parser("serve", help="the HTTP API (embedded worker, local storage, SQLite by default)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("worker", help="a Celery worker (needs VIDMERGE_BROKER_URL)")
    p.add_argument("--queues", default="", help="the lanes this worker takes, comma-separated: interactive, "
                   "bulk, preparations, deliveries (default: all of them)")  # fmt: skip
    p.add_argument("--concurrency", type=int, default=1)
    p.set_defaults(func=_worker)
    return parser


def _render(args: argparse.Namespace, settings: Settings) -> int:
    from vidmerge.engine.runner import render_to_folder

    data = json.loads(args.data.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="vidmerge-bundle-") as tmp:
        summary = render_to_folder(args.template, data, args.out, settings, Path(tmp), parallel=args.parallel)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from vidmerge.bench.r30 import run_bench

    return run_bench(
        args.work, as_json=args.json, with_moviepy=not args.skip_moviepy, segment_seconds=args.segment_seconds,
        campaign_rows=args.campaign_rows, viewers=args.viewers, bulk_rows=args.bulk_rows, resolution=args.resolution,
        seconds=args.seconds, mixed_rows=args.mixed_rows,
    )  # fmt: skip


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from vidmerge.bench.demo import write_demo

    print(write_demo(args.dest))
    return 0


def _campaign(args: argparse.Namespace, settings: Settings) -> int:
    import httpx

    from vidmerge.client import ClientError, run_campaign

    key = args.api_key or next(iter(settings.api_keys), None)
    try:
        return run_campaign(args.server or settings.base_url, args.template_id, args.file, args.out, api_key=key,
                            mapping=args.mapping, campaign_id=args.campaign,
                            retry_seconds=args.retry_seconds)  # fmt: skip
    except (ClientError, OSError, httpx.HTTPError) as exc:
        print(f"vidmerge campaign: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from vidmerge.service.app import serve

    serve(settings)
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from vidmerge.service.work.worker import run_worker

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    return run_worker(settings, queues=queues, concurrency=args.concurrency)


if __name__ == "__main__":
    raise SystemExit(main())
