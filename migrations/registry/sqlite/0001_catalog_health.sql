-- The registry's catalogue: imputation services, their reference panels and
-- health-check history. Timestamps are UTC milliseconds since the epoch;
-- flags are 0/1 integers (the portable form across SQLite and PostgreSQL);
-- short enumerated lists are comma-separated tokens.

CREATE TABLE services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    api_type TEXT NOT NULL,
    base_url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    location_country TEXT NOT NULL DEFAULT '',
    location_institution TEXT NOT NULL DEFAULT '',
    input_formats TEXT NOT NULL DEFAULT '',
    supported_phasing TEXT NOT NULL DEFAULT '',
    max_file_size_bytes BIGINT NOT NULL DEFAULT 0,
    is_active BIGINT NOT NULL DEFAULT 1,
    auth_instructions_url TEXT NOT NULL DEFAULT '',
    michigan_app_id TEXT NOT NULL DEFAULT '',
    michigan_aes_encryption BIGINT NOT NULL DEFAULT 0,
    michigan_max_concurrent_jobs BIGINT NOT NULL DEFAULT 0,
    michigan_r2_filter_values TEXT NOT NULL DEFAULT '',
    -- The WES default workflow as a JSON document (its parameters are
    -- free-form by nature); NULL when none is configured.
    wes_default_workflow TEXT,
    wes_supported_versions TEXT NOT NULL DEFAULT '',
    wes_workflow_type_versions TEXT NOT NULL DEFAULT '',
    health_status TEXT NOT NULL DEFAULT 'unknown',
    last_health_check_at BIGINT,
    health_error TEXT NOT NULL DEFAULT '',
    response_time_ms BIGINT NOT NULL DEFAULT 0,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    failing_since BIGINT,
    last_available_at BIGINT,
    health_available BIGINT NOT NULL DEFAULT 1,
    last_on_demand_check_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT services_slug_key UNIQUE (slug)
);

CREATE TABLE service_builds (
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    build TEXT NOT NULL,
    PRIMARY KEY (service_id, build)
);

CREATE TABLE reference_panels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    build TEXT NOT NULL,
    default_population TEXT NOT NULL DEFAULT '',
    sample_count BIGINT NOT NULL DEFAULT 0,
    variant_count BIGINT NOT NULL DEFAULT 0,
    is_active BIGINT NOT NULL DEFAULT 1,
    version TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL,
    last_synced_at BIGINT,
    wes_workflow TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT reference_panels_service_slug_key UNIQUE (service_id, slug)
);

CREATE INDEX reference_panels_listing ON reference_panels (service_id, name, id);

CREATE TABLE panel_populations (
    panel_id BIGINT NOT NULL REFERENCES reference_panels (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    population_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    sample_count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (panel_id, position)
);

CREATE TABLE health_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    response_time_ms BIGINT NOT NULL DEFAULT 0,
    http_status BIGINT NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    checked_at BIGINT NOT NULL,
    trigger_kind TEXT NOT NULL
);

CREATE INDEX health_checks_history ON health_checks (service_id, checked_at, id);
