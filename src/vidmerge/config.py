"""Settings: every `VIDMERGE_*` variable, read once at the entry point and passed down.

Nothing else in vidmerge reads the environment. With no variable set, the defaults give the
embedded mode: in-process workers, a local storage directory and SQLite under `data_dir`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./vidmerge-data")
    public_base_url: str = ""  # default: http://{host}:{port}
    broker_url: str = ""  # empty: embedded in-process worker pool
    database_url: str = ""  # empty: SQLite in data_dir
    s3_endpoint: str = ""  # empty: local directory storage
    s3_bucket: str = "vidmerge"
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_retry_seconds: float = 30.0  # how long storage calls retry an unreachable S3 before failing
    s3_redirect: bool = True  # MP4, poster and GIF URLs redirect to short-lived presigned S3 URLs
    s3_public_endpoint: str = ""  # where viewers reach S3, if not at s3_endpoint
    webhook_secrets: tuple[str, ...] = ()
    api_keys: tuple[str, ...] = ()
    # MA tools' own credentials; an adapter whose secret is unset answers 404
    hubspot_app_secret: str = ""  # the app's client secret (X-HubSpot-Signature-v3, or v2)
    braze_token: str = ""  # Bearer token in Connected Content's :headers
    sfmc_jwt_secret: str = ""  # the installed package's JWT signing secret (HS256)
    marketo_secret: str = ""  # X-Vidmerge-Marketo-Secret, set as a custom header of the webhook
    # writes into the tools (service/pushers.py): HubSpot's private app token, Marketo's REST API
    hubspot_token: str = ""
    hubspot_api: str = "https://api.hubapi.com"
    marketo_url: str = ""  # https://123-ABC-456.mktorest.com
    marketo_client_id: str = ""
    marketo_client_secret: str = ""
    webhook_retry_scale: float = 1.0  # the delivery retry schedule times this (tests shrink it)
    outbound_allow: tuple[str, ...] = ()  # hosts template lookups may reach despite the address rules
    metrics_public: bool = True  # False: /metrics needs an API key too (when keys are set)
    workers: int = 4  # embedded render threads (they mostly wait on the segment scheduler)
    segment_parallel: int = 0  # segment encoders at once in a server process; 0: one per CPU
    bulk_stop_seconds: float = 30.0  # the longest bulk encodes stay stopped while interactive work goes on
    watchdog_seconds: float = 60.0  # no encode starting or ending this long while segments wait: recover
    ffmpeg: str = ""  # the ffmpeg binary; "": the static build shipped with vidmerge (imageio-ffmpeg)
    ffmpeg_threads: int = 0  # 0: let x264 choose
    ffmpeg_timeout: float = 300.0
    ffmpeg_memory_mb: int = 4096  # writable memory of each ffmpeg child; 0: unlimited
    ffmpeg_cpu_seconds: int = 1200  # CPU time of each ffmpeg child, all threads; 0: unlimited
    segment_wait_seconds: float = 20.0
    requeue_after_seconds: float = 60.0  # an unfinished render untouched this long is enqueued again
    retention_days: float = 0.0  # 0: keep forever
    mp4_keep_hours: float = 24.0  # an MP4 assembled on request is kept this long after its last assembly or use
    event_retention_days: float = 395.0  # page events (views, clicks); 0: keep forever
    max_bundle_bytes: int = 512 * 1024 * 1024
    max_webhook_bytes: int = 64 * 1024  # a webhook body over this is refused (413) before it is read on
    max_campaign_bytes: int = 32 * 1024 * 1024  # a campaign CSV over this is refused (413)
    max_campaign_rows: int = 100_000
    frame_cache_mb: int = 4096  # decoded base frames of dynamic segments on local disk; 0: off
    min_free_mb: int = 256  # below this free in data_dir, new work is refused (503); the frame cache keeps twice
    log_level: str = "INFO"

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'vidmerge.db').resolve()}"

    @property
    def media_origin(self) -> str:
        """Where viewers' browsers fetch redirected files from; empty when vidmerge serves them."""
        if not (self.s3_endpoint and self.s3_redirect):
            return ""
        parts = urlsplit(self.s3_public_endpoint or self.s3_endpoint)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def embedded_queue(self) -> bool:
        return not self.broker_url

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        get = env.get
        d = cls()
        return cls(
            host=get("VIDMERGE_HOST", d.host),
            port=int(get("VIDMERGE_PORT", d.port)),
            data_dir=Path(get("VIDMERGE_DATA_DIR", str(d.data_dir))),
            public_base_url=get("VIDMERGE_PUBLIC_BASE_URL", d.public_base_url),
            broker_url=get("VIDMERGE_BROKER_URL", d.broker_url),
            database_url=get("VIDMERGE_DATABASE_URL", d.database_url),
            s3_endpoint=get("VIDMERGE_S3_ENDPOINT", d.s3_endpoint),
            s3_bucket=get("VIDMERGE_S3_BUCKET", d.s3_bucket),
            s3_region=get("VIDMERGE_S3_REGION", d.s3_region),
            s3_access_key=get("VIDMERGE_S3_ACCESS_KEY", get("AWS_ACCESS_KEY_ID", "")),
            s3_secret_key=get("VIDMERGE_S3_SECRET_KEY", get("AWS_SECRET_ACCESS_KEY", "")),
            s3_retry_seconds=float(get("VIDMERGE_S3_RETRY_SECONDS", d.s3_retry_seconds)),
            s3_redirect=_flag(get("VIDMERGE_S3_REDIRECT", "true")),
            s3_public_endpoint=get("VIDMERGE_S3_PUBLIC_ENDPOINT", d.s3_public_endpoint),
            webhook_secrets=_split(get("VIDMERGE_WEBHOOK_SECRETS", "")),
            api_keys=_split(get("VIDMERGE_API_KEYS", "")),
            hubspot_app_secret=get("VIDMERGE_HUBSPOT_APP_SECRET", ""),
            braze_token=get("VIDMERGE_BRAZE_TOKEN", ""),
            sfmc_jwt_secret=get("VIDMERGE_SFMC_JWT_SECRET", ""),
            marketo_secret=get("VIDMERGE_MARKETO_SECRET", ""),
            hubspot_token=get("VIDMERGE_HUBSPOT_TOKEN", ""),
            hubspot_api=get("VIDMERGE_HUBSPOT_API", d.hubspot_api),
            marketo_url=get("VIDMERGE_MARKETO_URL", ""),
            marketo_client_id=get("VIDMERGE_MARKETO_CLIENT_ID", ""),
            marketo_client_secret=get("VIDMERGE_MARKETO_CLIENT_SECRET", ""),
            webhook_retry_scale=float(get("VIDMERGE_WEBHOOK_RETRY_SCALE", d.webhook_retry_scale)),
            outbound_allow=_split(get("VIDMERGE_OUTBOUND_ALLOW", "")),
            metrics_public=_flag(get("VIDMERGE_METRICS_PUBLIC", "true")),
            workers=int(get("VIDMERGE_WORKERS", d.workers)),
            segment_parallel=max(0, int(get("VIDMERGE_SEGMENT_PARALLEL", d.segment_parallel))),
            bulk_stop_seconds=float(get("VIDMERGE_BULK_STOP_SECONDS", d.bulk_stop_seconds)),
            watchdog_seconds=float(get("VIDMERGE_WATCHDOG_SECONDS", d.watchdog_seconds)),
            ffmpeg=get("VIDMERGE_FFMPEG", d.ffmpeg),
            ffmpeg_threads=int(get("VIDMERGE_FFMPEG_THREADS", d.ffmpeg_threads)),
            ffmpeg_timeout=float(get("VIDMERGE_FFMPEG_TIMEOUT", d.ffmpeg_timeout)),
            ffmpeg_memory_mb=max(0, int(get("VIDMERGE_FFMPEG_MEMORY_MB", d.ffmpeg_memory_mb))),
            ffmpeg_cpu_seconds=max(0, int(get("VIDMERGE_FFMPEG_CPU_SECONDS", d.ffmpeg_cpu_seconds))),
            segment_wait_seconds=float(get("VIDMERGE_SEGMENT_WAIT_SECONDS", d.segment_wait_seconds)),
            requeue_after_seconds=float(get("VIDMERGE_REQUEUE_AFTER_SECONDS", d.requeue_after_seconds)),
            retention_days=float(get("VIDMERGE_RETENTION_DAYS", d.retention_days)),
            mp4_keep_hours=float(get("VIDMERGE_MP4_KEEP_HOURS", d.mp4_keep_hours)),
            event_retention_days=float(get("VIDMERGE_EVENT_RETENTION_DAYS", d.event_retention_days)),
            max_bundle_bytes=int(get("VIDMERGE_MAX_BUNDLE_BYTES", d.max_bundle_bytes)),
            max_webhook_bytes=int(get("VIDMERGE_MAX_WEBHOOK_BYTES", d.max_webhook_bytes)),
            max_campaign_bytes=int(get("VIDMERGE_MAX_CAMPAIGN_BYTES", d.max_campaign_bytes)),
            max_campaign_rows=int(get("VIDMERGE_MAX_CAMPAIGN_ROWS", d.max_campaign_rows)),
            frame_cache_mb=max(0, int(get("VIDMERGE_FRAME_CACHE_MB", d.frame_cache_mb))),
            min_free_mb=max(0, int(get("VIDMERGE_MIN_FREE_MB", d.min_free_mb))),
            log_level=get("VIDMERGE_LOG_LEVEL", d.log_level),
        )
