-- Daily energy per meter and series, one row per Paris calendar day.
-- wh NULL records that the gateway answered for this day without a value ("not yet").
CREATE TABLE daily_energy (
    pdl        TEXT    NOT NULL,
    series     TEXT    NOT NULL CHECK (series IN ('consumption', 'production')),
    day        TEXT    NOT NULL,
    wh         INTEGER,
    quality    TEXT,
    fetched_at TEXT    NOT NULL,
    PRIMARY KEY (pdl, series, day)
) WITHOUT ROWID;

-- What the account says about each meter (activation date bounds the history).
CREATE TABLE meter (
    pdl                   TEXT PRIMARY KEY,
    activation_date       TEXT,
    oldest_available_date TEXT,
    fetched_at            TEXT NOT NULL
) WITHOUT ROWID;
