-- Agent leagues: configuration and crown per competition, agent versions,
-- and the crown's history. An agent's jobs are submissions with agent_id.
CREATE TABLE leagues (
    competition TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    crown_agent TEXT NOT NULL DEFAULT '',
    crown_score DOUBLE PRECISION NOT NULL DEFAULT 0,
    crowned_at  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE agents (
    id          TEXT PRIMARY KEY,
    competition TEXT NOT NULL REFERENCES leagues (competition),
    miner       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    code_hash   TEXT NOT NULL REFERENCES blobs (hash),
    status      TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (competition, miner, version)
);
CREATE INDEX agents_competition ON agents (competition, status, created_at);
CREATE INDEX agents_miner ON agents (miner, created_at);

CREATE TABLE league_crowns (
    id          {{SERIAL}},
    competition TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    miner       TEXT NOT NULL,
    score       DOUBLE PRECISION NOT NULL,
    gain        DOUBLE PRECISION NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX league_crowns_competition ON league_crowns (competition, at);

ALTER TABLE submissions ADD COLUMN agent_id TEXT;
CREATE INDEX submissions_agent ON submissions (agent_id);
