-- tesoro 1.1.0: reward points earned per transaction.
-- Expand only: a new table and index, nothing renamed or dropped, so 1.0.0 keeps working
-- on this schema (it never reads the table).
CREATE TABLE rewards (
    id INTEGER PRIMARY KEY,
    transaction_id INTEGER NOT NULL UNIQUE REFERENCES transactions (id),
    username TEXT NOT NULL,
    points INTEGER NOT NULL CHECK (points >= 0),
    created_at TEXT NOT NULL
);

CREATE INDEX rewards_username ON rewards (username);
