-- Tempo colours (RTE); color NULL records that the day was asked and RTE had not decided.
CREATE TABLE tempo_day (
    day        TEXT PRIMARY KEY,
    color      TEXT CHECK (color IN ('BLEU', 'BLANC', 'ROUGE')),
    fetched_at TEXT NOT NULL
) WITHOUT ROWID;

-- EcoWatt signals (RTE): the day's level and message, and each hour's level as "1,1,2,…".
CREATE TABLE ecowatt_day (
    day        TEXT PRIMARY KEY,
    level      INTEGER NOT NULL,
    message    TEXT,
    hours      TEXT NOT NULL,
    fetched_at TEXT NOT NULL
) WITHOUT ROWID;

-- Tempo prices published by the v1 gateway (EUR/kWh).
CREATE TABLE tempo_prices (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    blue_hc    REAL,
    blue_hp    REAL,
    white_hc   REAL,
    white_hp   REAL,
    red_hc     REAL,
    red_hp     REAL,
    fetched_at TEXT NOT NULL
);
