-- wattfare_ledger_append_only keeps the wallet ledger append-only: an entry
-- is never changed or removed, corrections are new entries (a refund is a
-- debit that names its payment). Its trigger is (re)made here with it.
CREATE OR REPLACE FUNCTION wattfare_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'wallet_ledger is append-only: add a correcting entry instead'
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE OR REPLACE TRIGGER wallet_ledger_append_only BEFORE UPDATE OR DELETE ON wallet_ledger
    FOR EACH ROW EXECUTE FUNCTION wattfare_ledger_append_only();
