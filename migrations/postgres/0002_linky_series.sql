-- PostgreSQL twin of migrations/sqlite/0002_linky_series.sql.
CREATE TABLE meter (
    pdl                   TEXT PRIMARY KEY,
    activation_date       DATE,
    oldest_available_date DATE,
    fetched_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE max_power (
    pdl        TEXT        NOT NULL,
    day        DATE        NOT NULL,
    va         BIGINT,
    peak_at    TIMESTAMP,
    fetched_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pdl, day)
);

CREATE TABLE load_curve (
    pdl         TEXT        NOT NULL,
    series      TEXT        NOT NULL CHECK (series IN ('consumption', 'production')),
    end_at      TIMESTAMPTZ NOT NULL,
    day         DATE        NOT NULL,
    start_local TIMESTAMP   NOT NULL,
    minutes     BIGINT      NOT NULL,
    watts       BIGINT      NOT NULL,
    fetched_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pdl, series, end_at)
);
CREATE INDEX load_curve_by_day ON load_curve (pdl, series, day);

CREATE TABLE load_curve_asked (
    pdl      TEXT        NOT NULL,
    series   TEXT        NOT NULL,
    day      DATE        NOT NULL,
    asked_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pdl, series, day)
);

CREATE TABLE contract (
    pdl                 TEXT PRIMARY KEY,
    subscribed_kva      BIGINT,
    distribution_tariff TEXT,
    offpeak_hours       TEXT,
    activation_date     DATE,
    status              TEXT,
    fetched_at          TIMESTAMPTZ NOT NULL
);

CREATE TABLE meter_status (
    pdl                TEXT PRIMARY KEY,
    last_success_at    TIMESTAMPTZ,
    last_error         TEXT,
    last_error_at      TIMESTAMPTZ,
    consent_expiration TIMESTAMP,
    quota_used         BIGINT,
    quota_limit        BIGINT,
    access_checked_at  TIMESTAMPTZ
);

CREATE TABLE gateway_calls (
    scope TEXT    NOT NULL,
    day   DATE    NOT NULL,
    calls BIGINT NOT NULL,
    PRIMARY KEY (scope, day)
);

CREATE TABLE configured_meter (
    pdl        TEXT PRIMARY KEY,
    removed_at TIMESTAMPTZ
);
