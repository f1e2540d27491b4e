-- Reward epochs: each row is one closed epoch, written once.
CREATE TABLE epochs (
    number        INTEGER PRIMARY KEY,
    from_at       BIGINT NOT NULL,
    to_at         BIGINT NOT NULL,
    snapshot      {{BLOB}} NOT NULL,
    snapshot_hash TEXT NOT NULL,
    root          TEXT NOT NULL,
    tree          {{BLOB}} NOT NULL,
    closed_by     TEXT NOT NULL,
    closed_at     BIGINT NOT NULL
);
