-- PostgreSQL twin of migrations/sqlite/0004_statistics.sql.
ALTER TABLE meter_status ADD COLUMN statistics_error TEXT;
