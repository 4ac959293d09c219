-- name: GetWallet :one
SELECT * FROM wallets WHERE account_id = $1 AND mode = $2;

-- name: TestCreditsForUpdate :one
SELECT (credits - captured - held)::bigint AS available FROM wallets WHERE account_id = $1 AND mode = 'test' FOR UPDATE;

-- name: EnsureWallet :exec
INSERT INTO wallets (account_id, mode) VALUES ($1, $2) ON CONFLICT DO NOTHING;

-- name: AddCredits :execrows
UPDATE wallets SET credits = credits + @amount, version = version + 1 WHERE account_id = @account_id AND mode = @mode;

-- name: InsertLedgerCredit :exec
-- Test credit in test mode; in live mode a credit outside payments is an
-- admin's (or the demo seed's) grant.
INSERT INTO wallet_ledger (account_id, mode, kind, amount, description, source, actor_id)
VALUES (@account_id, @mode, 'credit', @amount, @description,
        CASE WHEN @mode::text = 'test' THEN 'test_credit' ELSE 'grant' END, nullif(@actor_id::text, ''));

-- name: HasLedgerCredit :one
SELECT EXISTS (SELECT 1 FROM wallet_ledger WHERE account_id = @account_id AND mode = @mode AND kind = 'credit' AND description = @description);

-- name: LedgerPage :many
SELECT * FROM wallet_ledger
WHERE account_id = @account_id AND mode = @mode AND (sqlc.narg(before_id)::bigint IS NULL OR id < sqlc.narg(before_id)::bigint)
ORDER BY id DESC LIMIT @lim;

-- name: NotifyWalletChange :exec
-- Tells the data plane that a wallet's credits changed, on commit: it drops
-- cached budget_exhausted refusals of the wallet's connections.
SELECT pg_notify('wattfare_changes', json_build_object(
  'entity', 'wallet', 'id', w.account_id, 'mode', w.mode, 'version', w.version)::text)
FROM wallets w WHERE w.account_id = @account_id AND w.mode = @mode;
