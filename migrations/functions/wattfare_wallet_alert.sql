-- wattfare_wallet_alert keeps a wallet's low-balance alert (wallets'
-- alert_below, alert_armed): when the balance (credits - captured) falls
-- under alert_below while armed, it fires the alert (an alerts row and its
-- email job, in the transaction that spent or took back the money) and
-- disarms it; when the balance is back at or above the amount, it arms it
-- again. So an alert fires once per crossing below. The trigger's WHEN test
-- keeps every other wallet update (each settlement's) free of it.
CREATE OR REPLACE FUNCTION wattfare_wallet_alert()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_id text;
BEGIN
    IF NEW.alert_armed THEN
        v_id := 'alr_' || replace(gen_random_uuid()::text, '-', '');
        INSERT INTO alerts (id, account_id, mode, kind, below, balance)
        VALUES (v_id, NEW.account_id, NEW.mode, 'wallet', NEW.alert_below, NEW.credits - NEW.captured);
        PERFORM wattfare_alert_job(v_id);
        NEW.alert_armed := false;
    ELSE
        NEW.alert_armed := true;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER wallets_alert BEFORE UPDATE OF credits, captured ON wallets
    FOR EACH ROW WHEN (NEW.alert_below IS NOT NULL AND
        (NEW.alert_armed AND NEW.credits - NEW.captured < NEW.alert_below OR
         NOT NEW.alert_armed AND NEW.credits - NEW.captured >= NEW.alert_below))
    EXECUTE FUNCTION wattfare_wallet_alert();
