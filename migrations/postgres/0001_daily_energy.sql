-- PostgreSQL twin of migrations/sqlite/0001_daily_energy.sql: the same tables and columns
-- (tests/store_schemas.rs compares them), with PostgreSQL's types.
CREATE TABLE daily_energy (
    pdl        TEXT        NOT NULL,
    series     TEXT        NOT NULL CHECK (series IN ('consumption', 'production')),
    day        DATE        NOT NULL,
    wh         BIGINT,
    quality    TEXT,
    fetched_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pdl, series, day)
);
