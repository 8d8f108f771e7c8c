-- PostgreSQL twin of migrations/sqlite/0003_grid.sql.
CREATE TABLE tempo_day (
    day        DATE PRIMARY KEY,
    color      TEXT CHECK (color IN ('BLEU', 'BLANC', 'ROUGE')),
    fetched_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE ecowatt_day (
    day        DATE PRIMARY KEY,
    level      BIGINT NOT NULL,
    message    TEXT,
    hours      TEXT NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE tempo_prices (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    blue_hc    DOUBLE PRECISION,
    blue_hp    DOUBLE PRECISION,
    white_hc   DOUBLE PRECISION,
    white_hp   DOUBLE PRECISION,
    red_hc     DOUBLE PRECISION,
    red_hp     DOUBLE PRECISION,
    fetched_at TIMESTAMPTZ NOT NULL
);
