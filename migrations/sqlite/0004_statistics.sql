-- The last failure of a meter's Energy-dashboard statistics (NULL: the last import went
-- through, or statistics are off).
ALTER TABLE meter_status ADD COLUMN statistics_error TEXT;
