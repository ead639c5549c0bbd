"""Everything a process of the service needs, built once from the settings."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass

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
