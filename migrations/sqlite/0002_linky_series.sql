-- Daily maximum power (VA) with the naive Paris time of the peak; va NULL = asked, not yet.
CREATE TABLE max_power (
    pdl        TEXT NOT NULL,
    day        TEXT NOT NULL,
    va         INTEGER,
    peak_at    TEXT,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (pdl, day)
) WITHOUT ROWID;

-- Load curve points. end_at is the UTC instant that ends the interval (unique even in the
-- doubled autumn hour); day and start_local are the Paris date and wall-clock time of the
-- interval's START, which decide its calendar day and its HC/HP period.
CREATE TABLE load_curve (
    pdl         TEXT    NOT NULL,
    series      TEXT    NOT NULL CHECK (series IN ('consumption', 'production')),
    end_at      TEXT    NOT NULL,
    day         TEXT    NOT NULL,
    start_local TEXT    NOT NULL,
    minutes     INTEGER NOT NULL,
    watts       INTEGER NOT NULL,
    fetched_at  TEXT    NOT NULL,
    PRIMARY KEY (pdl, series, end_at)
) WITHOUT ROWID;
CREATE INDEX load_curve_by_day ON load_curve (pdl, series, day);

-- Days of load curve already asked for (a day may legitimately stay incomplete).
CREATE TABLE load_curve_asked (
    pdl      TEXT NOT NULL,
    series   TEXT NOT NULL,
    day      TEXT NOT NULL,
    asked_at TEXT NOT NULL,
    PRIMARY KEY (pdl, series, day)
) WITHOUT ROWID;

CREATE TABLE contract (
    pdl                 TEXT PRIMARY KEY,
    subscribed_kva      INTEGER,
    distribution_tariff TEXT,
    offpeak_hours       TEXT,
    activation_date     TEXT,
    status              TEXT,
    fetched_at          TEXT NOT NULL
) WITHOUT ROWID;

-- What the status topic of each meter says, kept across restarts.
CREATE TABLE meter_status (
    pdl                TEXT PRIMARY KEY,
    last_success_at    TEXT,
    last_error         TEXT,
    last_error_at      TEXT,
    consent_expiration TEXT,
    quota_used         INTEGER,
    quota_limit        INTEGER,
    access_checked_at  TEXT
) WITHOUT ROWID;

-- Gateway calls per quota scope ('account' for v2, the PDL for v1) and quota day.
CREATE TABLE gateway_calls (
    scope TEXT    NOT NULL,
    day   TEXT    NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (scope, day)
) WITHOUT ROWID;

-- Meters that were configured, so that a meter removed from the options gets its
-- entities cleared.
CREATE TABLE configured_meter (
    pdl        TEXT PRIMARY KEY,
    removed_at TEXT
) WITHOUT ROWID;
