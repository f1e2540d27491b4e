-- Peer evaluation: the coordinator assigns each peer_evaluation submission
-- its evaluators among the registered miners; only they may evaluate it.
CREATE TABLE peer_assignments (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    evaluator     TEXT NOT NULL,
    task_id       TEXT NOT NULL,
    done          INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (submission_id, evaluator)
);
CREATE INDEX peer_assignments_evaluator ON peer_assignments (evaluator, done, created_at);
CREATE INDEX submissions_status ON submissions (status, created_at);
