-- Each query passes when it returns no rows, or one row whose first column is true (1).

-- The rewards table exists.
SELECT COUNT(*) = 1 FROM sqlite_master WHERE type = 'table' AND name = 'rewards';

-- The transactions table 1.0.0 relies on is still there.
SELECT COUNT(*) = 1 FROM sqlite_master WHERE type = 'table' AND name = 'transactions';

-- Every reward belongs to an existing transaction of the same user.
SELECT r.id
FROM rewards AS r
LEFT JOIN transactions AS t ON t.id = r.transaction_id AND t.username = r.username
WHERE t.id IS NULL;
