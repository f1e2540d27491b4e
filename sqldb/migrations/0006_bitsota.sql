-- BitSota compatibility: the onboarding text a task's poster wrote
-- (onboard_md), and planner work items. A work item's state is derived
-- from its latest claim (claim_id), so it cannot drift from the claim.
CREATE TABLE task_onboarding (
    task_id    TEXT PRIMARY KEY REFERENCES tasks (id),
    onboard_md TEXT NOT NULL
);
CREATE TABLE work_items (
    id                 TEXT PRIMARY KEY,
    task_id            TEXT NOT NULL REFERENCES tasks (id),
    title              TEXT NOT NULL,
    instructions       TEXT NOT NULL,
    priority           INTEGER NOT NULL,
    base_submission_id TEXT,
    claim_id           TEXT REFERENCES claims (id),
    created_by         TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX work_items_task ON work_items (task_id, priority, created_at);
