-- The dashboard lists submissions newest first, a page at a time, and
-- summarizes results per validator: both walk an index instead of sorting
-- every row.
CREATE INDEX submissions_created ON submissions (created_at, id);
CREATE INDEX submissions_task_created ON submissions (task_id, created_at, id);
CREATE INDEX results_validator ON results (validator, created_at);
