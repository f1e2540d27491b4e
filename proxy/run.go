package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/agoranet/agora"
)

// runState is one run's budget, running spend, reservations and queue.
// The spend in memory is authoritative while the process lives; the
// ledger is read once, the first time the run is admitted, to carry on
// after a restart.
type runState struct {
	id       string
	mu       sync.Mutex
	budget   Budget
	spend    Spend
	reserved Budget // the reservations of calls in flight, by kind
	loaded   bool
	inflight int
	queue    []*waiter // calls waiting their turn, oldest first
	ended    bool
	wg       sync.WaitGroup  // calls in flight, for EndRun
	logged   map[string]bool // refusal reasons already logged at Info
	// pending holds refusals not yet in the ledger, by reason. They are
	// written with the first refusal of each reason, then with the next
	// settled call and at EndRun, so a run looping on a refusal costs
	// the ledger no write per refusal.
	pending map[string]int64
}

// waiter is a call in a run's queue.
type waiter struct {
	kind    string
	reserve Micros
	ready   chan *apiError // nil once admitted; buffered, sent once
}

// load reads the run's past spend from the ledger; rs.mu is held.
// Refusals counted before are pending, never yet written (flush waits for
// load), so they are added to what the ledger says.
func (p *Proxy) load(ctx context.Context, rs *runState) error {
	if rs.loaded {
		return nil
	}
	s, err := p.cfg.Ledger.Totals(ctx, rs.id)
	if err != nil {
		return err
	}
	for _, n := range rs.pending {
		s.Refused += n
	}
	rs.spend, rs.loaded = s, true
	return nil
}

// run returns the state of a run, creating it with the default budget.
func (p *Proxy) run(id string) *runState {
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := p.runs[id]
	if rs == nil {
		rs = &runState{id: id, budget: p.cfg.Budget}
		p.runs[id] = rs
	}
	return rs
}

// ForRun returns the handler for one run, to be served where only that run
// can reach it. Every call through it is charged to runID, whatever run
// the request names. A zero budget field is the Config's default. Calling
// ForRun again for the same run changes its budget and keeps its spend.
// An empty runID is EINVALID: the id comes from a replay spec, and every
// run needs its own record.
func (p *Proxy) ForRun(runID string, budget Budget) (http.Handler, error) {
	if runID == "" {
		return nil, agora.Errorf(agora.EINVALID, "proxy: run id is empty")
	}
	p.mu.Lock()
	rs := p.runs[runID]
	if rs == nil || rs.ended {
		rs = &runState{id: runID}
		p.runs[runID] = rs
	}
	p.mu.Unlock()
	rs.mu.Lock()
	rs.budget = budget.withDefaults(p.cfg.Budget)
	rs.mu.Unlock()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, rs) }), nil
}

// Spend returns what a run has spent so far. It includes calls still in
// flight only once they finish; EndRun waits for them.
func (p *Proxy) Spend(runID string) Spend {
	ctx, cancel := context.WithTimeout(context.Background(), p.ledgerCtx)
	defer cancel()
	p.mu.Lock()
	rs := p.runs[runID]
	p.mu.Unlock()
	if rs != nil {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if err := p.load(ctx, rs); err != nil {
			p.log.Error("ledger totals", "run", runID, "err", err)
		}
		return rs.spend
	}
	s, err := p.cfg.Ledger.Totals(ctx, runID)
	if err != nil {
		p.log.Error("ledger totals", "run", runID, "err", err)
	}
	return s
}

// EndRun refuses the run's further calls (HTTP 410), and those still
// queued, waits for its calls in flight to finish or ctx to end, forgets
// the run's in-memory state and returns its final spend: what the
// validator puts in the run's result.
func (p *Proxy) EndRun(ctx context.Context, runID string) (Spend, error) {
	p.mu.Lock()
	rs := p.runs[runID]
	p.mu.Unlock()
	if rs == nil {
		return p.cfg.Ledger.Totals(ctx, runID)
	}
	rs.mu.Lock()
	rs.ended = true // admit checks it under rs.mu, so wg gets no new Add
	p.grant(rs)     // the queued calls are refused
	rs.mu.Unlock()
	done := make(chan struct{})
	go func() { rs.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.flushRefusals(rs)
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return rs.spend, ctx.Err()
	}
	p.mu.Lock()
	if p.runs[runID] == rs {
		delete(p.runs, runID)
	}
	p.mu.Unlock()
	rs.mu.Lock()
	err := p.load(ctx, rs)
	rs.mu.Unlock()
	if err != nil {
		return Spend{}, err
	}
	p.flushRefusals(rs)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.spend, nil
}

// admit lets a call through once its turn comes, or says why not: the run
// has ended, its budget for this kind of call cannot cover the call's
// reservation, or the queue is full or the wait timed out. An admitted
// call holds one of the run's in-flight slots and its reservation until
// settle.
func (p *Proxy) admit(ctx context.Context, rs *runState, c *call) *apiError {
	rs.mu.Lock()
	if rs.ended {
		rs.mu.Unlock()
		return &apiError{status: http.StatusGone, typ: "run_ended", msg: fmt.Sprintf("run %s has ended", rs.id)}
	}
	if err := p.load(ctx, rs); err != nil {
		rs.mu.Unlock()
		p.log.Error("ledger totals", "run", rs.id, "err", err)
		return &apiError{status: http.StatusServiceUnavailable, typ: "unavailable", msg: "the proxy's ledger is unavailable; try again"}
	}
	// A call that would not fit even with nothing else in flight is
	// refused now rather than after a wait.
	if aerr := p.overBudget(rs, c.kind, c.reserve, c); aerr != nil {
		rs.mu.Unlock()
		return aerr
	}
	w := &waiter{kind: c.kind, reserve: c.reserve, ready: make(chan *apiError, 1)}
	rs.queue = append(rs.queue, w)
	p.grant(rs)
	select {
	case aerr := <-w.ready:
		rs.mu.Unlock()
		return aerr
	default:
	}
	if len(rs.queue) > p.cfg.MaxQueue {
		p.dequeue(rs, w)
		rs.mu.Unlock()
		return &apiError{status: http.StatusTooManyRequests, typ: "concurrency_limit", code: "queue_full", retryAfter: 1,
			msg: fmt.Sprintf("run %s has %d calls in flight and %d waiting, the most allowed; retry after one finishes", rs.id, rs.inflight, p.cfg.MaxQueue)}
	}
	p.m.queued.Inc()
	rs.mu.Unlock()
	start := time.Now()
	defer func() {
		p.m.queued.Dec()
		p.m.queueWait.Observe(time.Since(start).Seconds())
	}()
	select {
	case aerr := <-w.ready:
		return aerr // nil: admitted
	case <-ctx.Done():
	case <-p.cfg.After(p.cfg.QueueTimeout):
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	select {
	case aerr := <-w.ready: // answered as the wait ended
		if aerr != nil || ctx.Err() == nil {
			return aerr
		}
		p.release(rs, c.kind, c.reserve) // admitted, but the run has hung up
		rs.wg.Done()
	default:
		p.dequeue(rs, w)
	}
	p.grant(rs) // the calls behind it may go now
	if ctx.Err() != nil {
		return &apiError{status: http.StatusServiceUnavailable, typ: "aborted", msg: "the request was cancelled while it waited its turn", uncounted: true}
	}
	return &apiError{status: http.StatusServiceUnavailable, typ: "concurrency_limit", code: "queue_timeout", retryAfter: 5,
		msg: fmt.Sprintf("run %s: the call waited %s for its turn (%d calls in flight); retry later", rs.id, p.cfg.QueueTimeout, rs.inflight)}
}

// overBudget refuses a call whose reservation exceeds what the run has
// left even with nothing in flight; rs.mu is held. c, if set, describes
// the call in the message.
func (p *Proxy) overBudget(rs *runState, kind string, reserve Micros, c *call) *apiError {
	spent, budget := rs.spend.of(kind), rs.budget.of(kind)
	if addSat(spent, reserve) <= budget {
		return nil
	}
	aerr := &apiError{status: http.StatusPaymentRequired, typ: "budget_exhausted"}
	if spent >= budget || c == nil {
		aerr.msg = fmt.Sprintf("run %s spent %s of its %s %s budget", rs.id, spent, budget.Short(), kind)
		return aerr
	}
	aerr.msg = fmt.Sprintf("run %s has %s of its %s %s budget left; this call could cost up to %s (%d prompt tokens",
		rs.id, budget-spent, budget.Short(), kind, reserve, c.promptBound)
	if kind == KindInference {
		aerr.msg += fmt.Sprintf(", %d completion tokens); send a shorter prompt or a lower max_tokens", c.outputCap)
	} else {
		aerr.msg += "); send less input"
	}
	return aerr
}

// grant admits the queued calls whose turn has come; rs.mu is held. Calls
// of one kind go in the order they came; one waiting for budget that calls
// in flight hold does not hold up calls of the other kind. A call whose
// reservation no longer fits even with nothing in flight is refused.
func (p *Proxy) grant(rs *runState) {
	var blocked [2]bool // by kind: the oldest call waits for budget
	for i := 0; i < len(rs.queue); {
		w := rs.queue[i]
		k := 0
		if w.kind == KindEmbedding {
			k = 1
		}
		if rs.ended {
			p.dequeueAt(rs, i)
			w.ready <- &apiError{status: http.StatusGone, typ: "run_ended", msg: fmt.Sprintf("run %s has ended", rs.id), uncounted: true}
			continue
		}
		if blocked[k] || rs.inflight >= p.cfg.MaxInFlight {
			i++
			continue
		}
		if aerr := p.overBudget(rs, w.kind, w.reserve, nil); aerr != nil {
			p.dequeueAt(rs, i)
			w.ready <- aerr
			continue
		}
		if addSat(addSat(rs.spend.of(w.kind), rs.reserved.of(w.kind)), w.reserve) > rs.budget.of(w.kind) {
			blocked[k] = true // until a call in flight settles
			i++
			continue
		}
		p.dequeueAt(rs, i)
		rs.inflight++
		rs.reserved.add(w.kind, w.reserve)
		rs.wg.Add(1)
		p.m.inflight.Inc()
		w.ready <- nil
	}
}

// release gives back an admitted call's slot and reservation; rs.mu is
// held. The caller then calls wg.Done and grant.
func (p *Proxy) release(rs *runState, kind string, reserve Micros) {
	rs.inflight--
	rs.reserved.add(kind, -reserve)
	p.m.inflight.Dec()
}

func (p *Proxy) dequeue(rs *runState, w *waiter) {
	for i, x := range rs.queue {
		if x == w {
			p.dequeueAt(rs, i)
			return
		}
	}
}

func (p *Proxy) dequeueAt(rs *runState, i int) {
	rs.queue = append(rs.queue[:i], rs.queue[i+1:]...)
}

// settle charges a finished call to its run, releases the rest of its
// reservation, records it and logs it. It runs before the reply is
// written (after the stream, for streams), so the next call sees the
// charge.
func (p *Proxy) settle(rs *runState, e *Entry, c *call) {
	e.Duration = p.cfg.Now().Sub(e.Time)
	rs.mu.Lock()
	rs.spend.add(*e)
	p.release(rs, c.kind, c.reserve)
	p.grant(rs)
	rs.mu.Unlock()
	if e.Cost > c.reserve {
		// Only an upstream that ignores the caps it was given, or a
		// model whose MaxOutputTokens is set below what it generates,
		// gets here: the run is charged what the upstream reported.
		p.m.overrun.Add(float64(e.Cost - c.reserve))
		p.log.Warn("upstream reported more than the call's worst case; check the model's output cap", "run", e.RunID,
			"model", e.Model, "reserved", c.reserve.String(), "cost", e.Cost.String(),
			"prompt_tokens", e.PromptTokens, "prompt_bound", c.promptBound,
			"completion_tokens", e.CompletionTokens, "output_cap", c.outputCap)
	}
	// The run may have hung up; the charge is recorded regardless.
	ctx, cancel := context.WithTimeout(context.Background(), p.ledgerCtx)
	if err := p.cfg.Ledger.Record(ctx, *e); err != nil {
		p.m.ledgerErrors.Inc()
		p.log.Error("ledger record", "run", e.RunID, "cost_micros", int64(e.Cost), "err", err)
	}
	cancel()
	p.flushRefusals(rs)
	rs.wg.Done()
	p.m.observe(e)
	level := slog.LevelInfo
	if e.Status != StatusOK {
		level = slog.LevelWarn
	}
	p.log.LogAttrs(context.Background(), level, "call",
		slog.String("run", e.RunID), slog.String("kind", e.Kind), slog.String("model", e.Model),
		slog.String("upstream", e.Upstream), slog.Bool("stream", c.stream),
		slog.Int64("prompt_tokens", e.PromptTokens), slog.Int64("completion_tokens", e.CompletionTokens),
		slog.Bool("estimated", e.Estimated), slog.String("cost", e.Cost.String()), slog.Int64("cost_micros", int64(e.Cost)),
		slog.Int64("reserved_micros", int64(c.reserve)),
		slog.String("status", e.Status), slog.Int("upstream_status", e.HTTPStatus), slog.Int64("ms", e.Duration.Milliseconds()))
}

// flushRefusals writes the run's pending refusal counts to the ledger,
// once the run's totals are loaded (load adds what is pending).
func (p *Proxy) flushRefusals(rs *runState) {
	rs.mu.Lock()
	if !rs.loaded || len(rs.pending) == 0 {
		rs.mu.Unlock()
		return
	}
	pending := rs.pending
	rs.pending = nil
	rs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.ledgerCtx)
	defer cancel()
	for reason, n := range pending {
		if err := p.cfg.Ledger.RecordRefusals(ctx, rs.id, reason, n); err != nil {
			p.m.ledgerErrors.Inc()
			p.log.Error("ledger refusals", "run", rs.id, "reason", reason, "err", err)
			rs.mu.Lock()
			if rs.pending == nil {
				rs.pending = map[string]int64{}
			}
			rs.pending[reason] += n // tried again at the next flush
			rs.mu.Unlock()
		}
	}
}
