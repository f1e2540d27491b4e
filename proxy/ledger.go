package proxy

import (
	"context"
	"sync"
	"time"
)

// Call kinds. Inference and embeddings have separate budgets.
const (
	KindInference = "inference"
	KindEmbedding = "embedding"
)

// Call statuses, as recorded in the ledger and in metrics. Every status but
// StatusUpstreamError may carry a charge.
const (
	// StatusOK: the upstream answered and reported its usage; the charge
	// is exact.
	StatusOK = "ok"
	// StatusNoUsage: the upstream answered without usage; the call was
	// charged its reservation, the most it could have cost.
	StatusNoUsage = "no_usage"
	// StatusTimeout: the upstream had the request but did not answer in
	// time; it may still bill us, so the estimate is charged.
	StatusTimeout = "timeout"
	// StatusAborted: the call broke after the upstream had the request
	// (the run hung up mid-stream, the connection dropped, the reply was
	// too large or unreadable); the estimate is charged.
	StatusAborted = "aborted"
	// StatusUpstreamError: the upstream refused the call with an error
	// status, or was never reached. Providers do not bill refusals, so
	// neither do we.
	StatusUpstreamError = "upstream_error"
)

// Entry is one call forwarded upstream. Refusals by the proxy itself are
// not entries: they cost nothing, and a run looping on a refusal must not
// be able to fill the validator's disk. They are counted instead, one
// counter per run and reason (Ledger.RecordRefusals).
type Entry struct {
	RunID            string
	Kind             string // KindInference or KindEmbedding
	Model            string // the name the run asked for
	Upstream         string
	PromptTokens     int64
	CompletionTokens int64
	Cost             Micros
	// Estimated is set when the tokens are the proxy's estimate because
	// the upstream reported no usage.
	Estimated  bool
	Status     string // StatusOK, StatusNoUsage, ...
	HTTPStatus int    // what the upstream answered; 0 if it never did
	Time       time.Time
	Duration   time.Duration
}

// Spend is what one run has spent.
type Spend struct {
	Inference Micros
	Embedding Micros
	// Calls counts calls forwarded upstream, charged or not.
	Calls int64
	// Refused counts calls the proxy refused without forwarding them:
	// over budget, queue full or timed out, a remote URL, a model not
	// allowed, too large, malformed.
	Refused          int64
	PromptTokens     int64
	CompletionTokens int64
}

// Total is inference plus embeddings.
func (s Spend) Total() Micros { return addSat(s.Inference, s.Embedding) }

// of returns the spend on one kind.
func (s Spend) of(kind string) Micros {
	if kind == KindEmbedding {
		return s.Embedding
	}
	return s.Inference
}

// add accounts one entry.
func (s *Spend) add(e Entry) {
	if e.Kind == KindEmbedding {
		s.Embedding = addSat(s.Embedding, e.Cost)
	} else {
		s.Inference = addSat(s.Inference, e.Cost)
	}
	s.Calls++
	s.PromptTokens += e.PromptTokens
	s.CompletionTokens += e.CompletionTokens
}

// Ledger records every forwarded call. The proxy keeps each run's running
// total in memory and reads the ledger's totals once, the first time it
// sees a run, so a restarted proxy with a durable ledger carries on where
// it stopped instead of handing out fresh budgets.
type Ledger interface {
	// Record appends one call.
	Record(ctx context.Context, e Entry) error
	// Totals sums a run's calls; a run never seen has a zero Spend.
	Totals(ctx context.Context, runID string) (Spend, error)
	// Entries lists a run's calls in the order they were recorded.
	Entries(ctx context.Context, runID string) ([]Entry, error)
	// RecordRefusals adds n to the run's count of calls refused for
	// reason, which Totals reports as Spend.Refused. The reasons are a
	// small fixed set, so the record of a run stays small however often
	// it is refused.
	RecordRefusals(ctx context.Context, runID, reason string, n int64) error
}

// MemoryLedger keeps entries in memory: for tests and for processes whose
// runs need not outlive them. The zero value is ready to use.
type MemoryLedger struct {
	mu      sync.Mutex
	entries map[string][]Entry
	refused map[string]int64
}

var _ Ledger = (*MemoryLedger)(nil)

// Record implements Ledger.
func (l *MemoryLedger) Record(_ context.Context, e Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.entries == nil {
		l.entries = map[string][]Entry{}
	}
	l.entries[e.RunID] = append(l.entries[e.RunID], e)
	return nil
}

// Totals implements Ledger.
func (l *MemoryLedger) Totals(_ context.Context, runID string) (Spend, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s Spend
	for _, e := range l.entries[runID] {
		s.add(e)
	}
	s.Refused = l.refused[runID]
	return s, nil
}

// RecordRefusals implements Ledger.
func (l *MemoryLedger) RecordRefusals(_ context.Context, runID, _ string, n int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refused == nil {
		l.refused = map[string]int64{}
	}
	l.refused[runID] += n
	return nil
}

// Entries implements Ledger.
func (l *MemoryLedger) Entries(_ context.Context, runID string) ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Entry(nil), l.entries[runID]...), nil
}

// Forget drops a run's entries, for a long-lived process that has already
// reported the run's spend.
func (l *MemoryLedger) Forget(runID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, runID)
	delete(l.refused, runID)
}
