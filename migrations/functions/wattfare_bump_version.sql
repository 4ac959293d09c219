-- wattfare_bump_version bumps a cached row's version on every update, so
-- that wattfare_notify_change announces the new version.
CREATE OR REPLACE FUNCTION wattfare_bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END $$;
