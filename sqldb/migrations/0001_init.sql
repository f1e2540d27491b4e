-- Agora coordinator schema, version 1. {{BLOB}} and {{SERIAL}} are filled in
-- per database (BLOB/BYTEA, INTEGER AUTOINCREMENT/BIGSERIAL); everything else
-- is the same SQL on SQLite and PostgreSQL. Times are unix microseconds.

CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL,
    competition TEXT NOT NULL DEFAULT '',
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX tasks_kind_state ON tasks (kind, state);
CREATE INDEX tasks_competition ON tasks (competition);

CREATE TABLE claims (
    id          TEXT PRIMARY KEY,
    task_id     TEXT NOT NULL REFERENCES tasks (id),
    miner       TEXT NOT NULL,
    description TEXT NOT NULL,
    status      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX claims_task_miner ON claims (task_id, miner, status);
CREATE INDEX claims_miner ON claims (miner, created_at);

CREATE TABLE blobs (
    hash       TEXT PRIMARY KEY,
    data       {{BLOB}} NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE submissions (
    id           TEXT PRIMARY KEY,
    task_id      TEXT NOT NULL REFERENCES tasks (id),
    claim_id     TEXT,
    miner        TEXT NOT NULL,
    client_key   TEXT,
    request_hash TEXT NOT NULL,
    status       TEXT NOT NULL,
    spec_hash    TEXT NOT NULL REFERENCES blobs (hash),
    body         TEXT NOT NULL,
    verdict      TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (miner, client_key)
);
CREATE INDEX submissions_task ON submissions (task_id, status, created_at);
CREATE INDEX submissions_miner ON submissions (miner, created_at);

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    submission_id    TEXT NOT NULL REFERENCES submissions (id),
    task_id          TEXT NOT NULL,
    slot             INTEGER NOT NULL,
    status           TEXT NOT NULL,
    validator        TEXT NOT NULL DEFAULT '',
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    lease_expires_at BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (submission_id, slot)
);
CREATE INDEX jobs_queue ON jobs (status, created_at, slot);
CREATE INDEX jobs_lease ON jobs (status, lease_expires_at);
CREATE INDEX jobs_submission_validator ON jobs (submission_id, validator);

CREATE TABLE results (
    id            TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    validator     TEXT NOT NULL,
    status        TEXT NOT NULL,
    peer          INTEGER NOT NULL DEFAULT 0,
    request_hash  TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (submission_id, validator)
);

CREATE TABLE events (
    id         {{SERIAL}},
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE nonces (
    signer     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (signer, nonce)
);
CREATE INDEX nonces_expiry ON nonces (expires_at);
