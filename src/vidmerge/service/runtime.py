"""Everything a process of the service needs, built once from the settings."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vidmerge.config import Settings
from vidmerge.engine.ffmpeg import Limits
from vidmerge.engine.frames import open_frame_cache
from vidmerge.errors import ConfigError, DiskFull
from vidmerge.records import Database
from vidmerge.resolver import outbound
from vidmerge.service.registry import Registry
from vidmerge.service.work.scheduler import Scheduler
from vidmerge.storage import Storage, open_storage
from vidmerge.template.archive import ArchiveLimits

log = logging.getLogger("vidmerge")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    storage: Storage
    registry: Registry
    scheduler: Scheduler

    @property
    def limits(self) -> Limits:
        return self.registry.limits

    def check_space(self) -> None:
        """Raise DiskFull when the data directory (database, local objects, frame cache) has less
        than its reserve free: new work is refused (503) before a write fails half-way."""
        free = shutil.disk_usage(self.settings.data_dir).free
        if free < self.settings.min_free_mb << 20:
            raise DiskFull(f"{free >> 20} MB free, below the {self.settings.min_free_mb} MB reserve",
                           where="VIDMERGE_MIN_FREE_MB")  # fmt: skip


def check_settings(settings: Settings) -> None:
    """Refuse settings that would leave the server half open: with webhook secrets (or an MA
    tool's) alone, renders would be authenticated while template upload, render details
    (customers' values) and erasure stayed open to anyone."""
    secrets = {
        "VIDMERGE_WEBHOOK_SECRETS": settings.webhook_secrets,
        "VIDMERGE_HUBSPOT_APP_SECRET": settings.hubspot_app_secret,
        "VIDMERGE_BRAZE_TOKEN": settings.braze_token,
        "VIDMERGE_SFMC_JWT_SECRET": settings.sfmc_jwt_secret,
        "VIDMERGE_MARKETO_SECRET": settings.marketo_secret,
    }
    named = [name for name, value in secrets.items() if value]
    if named and not settings.api_keys:
        raise ConfigError(
            f"{named[0]} is set without VIDMERGE_API_KEYS: the management endpoints (template upload, "
            "render details, erasure) would be open to anyone; set VIDMERGE_API_KEYS too",
            where="VIDMERGE_API_KEYS",
        )


def use_scratch(settings: Settings) -> Path:
    """Put this process's temporary files (encodes, uploads, downloads) in `data_dir/tmp`, and
    remove what a process killed mid-render left there: the system's temporary directory would
    keep pictures of a customer's name where erasure never looks. For process entry points."""
    scratch = settings.data_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(scratch)
    sweep_scratch(settings)
    return scratch


def sweep_scratch(settings: Settings) -> int:
    """Remove entries of `data_dir/tmp` older than any live work can be (an hour, or four ffmpeg
    timeouts); how many."""
    scratch, removed = settings.data_dir / "tmp", 0
    oldest = time.time() - max(3600.0, 4 * settings.ffmpeg_timeout)
    for entry in scratch.iterdir() if scratch.is_dir() else []:
        try:
            if entry.lstat().st_mtime > oldest:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue  # its owner finished after all
        removed += 1
    if removed:
        log.info("removed %d temporary entries left by an interrupted process", removed)
    return removed


def open_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    check_settings(settings)
    outbound.allow(settings.outbound_allow)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    if migrate:
        db.migrate()
    storage = open_storage(settings)
    limits = Limits.of(settings)
    archive = ArchiveLimits(max_bytes=settings.max_bundle_bytes)
    registry = Registry(db, storage, settings.data_dir / "bundles", limits, archive, open_frame_cache(settings))
    encoders = settings.segment_parallel or os.cpu_count() or 2
    scheduler = Scheduler(db, workers=encoders, wait=settings.segment_wait_seconds * 3,
                          stop_limit=settings.bulk_stop_seconds, watchdog=settings.watchdog_seconds)  # fmt: skip
    return Runtime(settings, db, storage, registry, scheduler)
