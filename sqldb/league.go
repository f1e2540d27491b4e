package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/agoranet/agora"
)

var _ agora.LeagueService = (*DB)(nil)

// PutLeague creates or replaces a league's configuration; the crown stays.
func (d *DB) PutLeague(ctx context.Context, l *agora.League) error {
	l.SetDefaults()
	if err := l.Validate(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		cfg := *l
		cfg.CrownAgent, cfg.CrownScore, cfg.CrownedAt = "", 0, nil
		prev, err := findLeague(ctx, tx, l.Competition, true)
		switch {
		case err == nil:
			cfg.CreatedAt, cfg.CreatedBy = prev.CreatedAt, prev.CreatedBy
		case agora.ErrorCode(err) == agora.ENOTFOUND:
			cfg.CreatedAt = tx.now
		default:
			return err
		}
		cfg.UpdatedAt = tx.now
		body, _ := json.Marshal(cfg)
		if prev == nil {
			_, err = tx.exec(ctx, `INSERT INTO leagues (competition, body, created_at, updated_at) VALUES (?, ?, ?, ?)`,
				l.Competition, string(body), micros(cfg.CreatedAt), micros(tx.now))
		} else {
			_, err = tx.exec(ctx, `UPDATE leagues SET body = ?, updated_at = ? WHERE competition = ?`, string(body), micros(tx.now), l.Competition)
		}
		if err != nil {
			return err
		}
		out, err := findLeague(ctx, tx, l.Competition, false)
		if err == nil {
			*l = *out
		}
		return err
	})
}

// findLeague reads a league with its crown, locking the row if asked.
func findLeague(ctx context.Context, tx *Tx, comp string, lock bool) (*agora.League, error) {
	var body, crown string
	var score float64
	var at int64
	q := `SELECT body, crown_agent, crown_score, crowned_at FROM leagues WHERE competition = ?`
	if lock {
		q += tx.d.forUpdate()
	}
	err := tx.queryRow(ctx, q, comp).Scan(&body, &crown, &score, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agora.Errorf(agora.ENOTFOUND, "no league for competition %q", comp)
	} else if err != nil {
		return nil, err
	}
	l := &agora.League{}
	if err := json.Unmarshal([]byte(body), l); err != nil {
		return nil, err
	}
	l.CrownAgent, l.CrownScore = crown, score
	if at != 0 {
		t := fromMicros(at)
		l.CrownedAt = &t
	}
	return l, nil
}

// FindLeague returns a league and its crown.
func (d *DB) FindLeague(ctx context.Context, comp string) (*agora.League, error) {
	var out *agora.League
	err := d.inTx(ctx, func(tx *Tx) error {
		var err error
		out, err = findLeague(ctx, tx, comp, false)
		return err
	})
	return out, err
}

const agentCols = `body, status`

func scanAgent(sc scanner) (*agora.Agent, error) {
	var body, status string
	if err := sc.Scan(&body, &status); err != nil {
		return nil, err
	}
	a := &agora.Agent{}
	if err := json.Unmarshal([]byte(body), a); err != nil {
		return nil, err
	}
	a.Status = status
	return a, nil
}

// agentRun is the replay-spec part of one of a version's jobs.
func agentRun(l *agora.League, a *agora.Agent, runID string) *agora.AgentRun {
	return &agora.AgentRun{
		AgentID: a.ID, Version: a.Version, CodeSHA256: a.SHA256, RunID: runID,
		TimeoutSeconds: l.AgentTimeoutSeconds, InferenceBudget: l.InferenceBudget, EmbeddingBudget: l.EmbeddingBudget,
		Models: l.Models,
	}
}

// addAgentJobs creates one submission (and its jobs) per task for a
// version. A task that is not a live swe task of the league is an error:
// a stage must never silently shrink.
func addAgentJobs(ctx context.Context, tx *Tx, l *agora.League, a *agora.Agent, tasks []string) error {
	for _, id := range tasks {
		t, err := findTask(ctx, tx, id)
		if err != nil {
			return err
		}
		if t.Kind != agora.TaskSWE || t.Competition != l.Competition || t.State != agora.TaskLive {
			return agora.Errorf(agora.EINVALID, "task %s: not a live swe task of competition %s", t.Slug, l.Competition)
		}
		s := &agora.Submission{TaskID: t.ID, Miner: a.Miner, AgentID: a.ID, Summary: "agent " + a.ID + " v" + strconv.Itoa(a.Version)}
		// The run id is frozen into the spec before the submission has an
		// id, so it comes from the agent and the task: one run per job.
		run := agentRun(l, a, a.ID+"/"+t.ID)
		if err := insertSubmission(ctx, tx, t, s, agora.SHA256Hex([]byte(run.RunID)), run); err != nil {
			return err
		}
	}
	return nil
}

// CreateAgent stores a version, its code by content hash and its
// screening jobs, in one transaction.
func (d *DB) CreateAgent(ctx context.Context, a *agora.Agent, code []byte, screening []string) error {
	return d.inTx(ctx, func(tx *Tx) error {
		l, err := findLeague(ctx, tx, a.Competition, true)
		if err != nil {
			return err
		}
		var lastVersion int
		var lastStatus, lastID string
		err = tx.queryRow(ctx, `SELECT id, version, status FROM agents WHERE competition = ? AND miner = ? ORDER BY version DESC LIMIT 1`,
			a.Competition, a.Miner).Scan(&lastID, &lastVersion, &lastStatus)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if lastStatus == agora.AgentScreening || lastStatus == agora.AgentEvaluating {
			return agora.Errorf(agora.ECONFLICT, "version %d (%s) is still under evaluation (%s); upload again when it is final", lastVersion, lastID, lastStatus)
		}
		if a.Version != lastVersion+1 {
			return agora.Errorf(agora.ECONFLICT, "version: %d is stale or out of order; the next version is %d", a.Version, lastVersion+1)
		}
		hash, err := putBlob(ctx, tx, code)
		if err != nil {
			return err
		}
		a.ID = agora.NewID(tx.now)
		a.SHA256, a.Size, a.Status = hash, len(code), agora.AgentScreening
		a.Problems, a.Decided, a.Resolved = len(screening), 0, 0
		a.CreatedAt, a.UpdatedAt = tx.now, tx.now
		body, _ := json.Marshal(a)
		if _, err := tx.exec(ctx, `INSERT INTO agents (id, competition, miner, version, code_hash, status, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.Competition, a.Miner, a.Version, hash, a.Status, string(body), micros(tx.now), micros(tx.now)); err != nil {
			return err
		}
		if err := addAgentJobs(ctx, tx, l, a, screening); err != nil {
			return err
		}
		return addEvent(ctx, tx, agora.EventAgent, map[string]any{"agent_id": a.ID, "competition": a.Competition, "miner_hotkey": a.Miner, "version": a.Version, "status": a.Status})
	})
}

// FindAgentByID returns a version.
func (d *DB) FindAgentByID(ctx context.Context, id string) (*agora.Agent, error) {
	a, err := scanAgent(d.db.QueryRowContext(ctx, d.rebind(`SELECT `+agentCols+` FROM agents WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agora.Errorf(agora.ENOTFOUND, "agent %q not found", id)
	}
	return a, formatError(err)
}

// FindAgents lists versions, newest first.
func (d *DB) FindAgents(ctx context.Context, f agora.AgentFilter) ([]*agora.Agent, int, error) {
	var w where
	if f.Competition != nil {
		w.add("competition = ?", *f.Competition)
	}
	if f.Miner != nil {
		w.add("miner = ?", *f.Miner)
	}
	if f.Status != nil {
		w.add("status = ?", *f.Status)
	}
	return findPage(ctx, d, agentCols, "agents", w, "created_at DESC, id DESC", f.Limit, f.Offset, scanAgent)
}

// AgentCode returns code by SHA-256, only if some agent has it: the blob
// store also holds specs and logs, which this must not serve.
func (d *DB) AgentCode(ctx context.Context, hash string) ([]byte, error) {
	var b []byte
	err := d.db.QueryRowContext(ctx, d.rebind(`SELECT b.data FROM blobs b WHERE b.hash = ? AND EXISTS (SELECT 1 FROM agents a WHERE a.code_hash = b.hash)`), hash).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agora.Errorf(agora.ENOTFOUND, "no agent code %q", hash)
	}
	return b, formatError(err)
}

// AgentPending counts a version's submissions without a verdict: a cheap
// test run on every league result before the stage is read whole.
func (d *DB) AgentPending(ctx context.Context, agentID string) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, d.rebind(`SELECT COUNT(*) FROM submissions WHERE agent_id = ? AND verdict IS NULL`), agentID).Scan(&n)
	return n, formatError(err)
}

// AgentSubmissions returns a version's job submissions, oldest first.
func (d *DB) AgentSubmissions(ctx context.Context, agentID string) ([]*agora.Submission, error) {
	rows, err := d.db.QueryContext(ctx, d.rebind(`SELECT `+submissionCols+` FROM submissions WHERE agent_id = ? ORDER BY created_at, id`), agentID)
	return collect(rows, err, scanSubmission)
}

// AdvanceAgent applies a stage transition if the agent is still in
// adv.From (and, to crown, the incumbent is still adv.Incumbent).
func (d *DB) AdvanceAgent(ctx context.Context, adv *agora.AgentAdvance) error {
	return d.inTx(ctx, func(tx *Tx) error {
		a := adv.Agent
		l, err := findLeague(ctx, tx, a.Competition, true)
		if err != nil {
			return err
		}
		a.UpdatedAt = tx.now
		if a.Final() && a.FinishedAt == nil {
			t := tx.now
			a.FinishedAt = &t
		}
		a.CodePublic = a.Final() && !l.PrivateCode
		body, _ := json.Marshal(a)
		res, err := tx.exec(ctx, `UPDATE agents SET status = ?, body = ?, updated_at = ? WHERE id = ? AND status = ?`,
			a.Status, string(body), micros(tx.now), a.ID, adv.From)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return agora.Errorf(agora.ECONFLICT, "agent %s is no longer %s", a.ID, adv.From)
		}
		if err := addAgentJobs(ctx, tx, l, a, adv.NextTasks); err != nil {
			return err
		}
		if adv.Crown {
			if l.CrownAgent != adv.Incumbent {
				return agora.Errorf(agora.ECONFLICT, "league %s: the incumbent changed from %q to %q", l.Competition, adv.Incumbent, l.CrownAgent)
			}
			score := 0.0
			if a.Score != nil {
				score = *a.Score
			}
			gain := 1.0
			if l.CrownAgent != "" && l.CrownScore > 0 {
				gain = (score - l.CrownScore) / l.CrownScore
			}
			if _, err := tx.exec(ctx, `UPDATE leagues SET crown_agent = ?, crown_score = ?, crowned_at = ?, updated_at = ? WHERE competition = ?`,
				a.ID, score, micros(tx.now), micros(tx.now), l.Competition); err != nil {
				return err
			}
			if _, err := tx.exec(ctx, `INSERT INTO league_crowns (competition, agent_id, miner, score, gain, at) VALUES (?, ?, ?, ?, ?, ?)`,
				l.Competition, a.ID, a.Miner, score, gain, micros(tx.now)); err != nil {
				return err
			}
		}
		return addEvent(ctx, tx, agora.EventAgent, map[string]any{"agent_id": a.ID, "competition": a.Competition, "miner_hotkey": a.Miner,
			"version": a.Version, "status": a.Status, "score": a.Score, "crowned": a.Crowned})
	})
}

// LeagueCrownings returns the crown's history as crownings, oldest first.
func (d *DB) LeagueCrownings(ctx context.Context, comp string) ([]agora.Crowning, error) {
	rows, err := d.db.QueryContext(ctx, d.rebind(`SELECT agent_id, miner, gain, at FROM league_crowns WHERE competition = ? ORDER BY at, id`), comp)
	return collect(rows, err, func(sc scanner) (agora.Crowning, error) {
		var c agora.Crowning
		var at int64
		err := sc.Scan(&c.SubmissionID, &c.Miner, &c.Gain, &at)
		c.TaskID, c.At = "league:"+comp, fromMicros(at)
		return c, err
	})
}
