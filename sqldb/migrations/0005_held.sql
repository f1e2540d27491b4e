-- Submissions the tampering scan held for their task's owner: the
-- findings and the owner's decision (release or reject), as JSON. NULL for
-- a submission never held.
ALTER TABLE submissions ADD COLUMN hold TEXT;
