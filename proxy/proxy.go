// Package proxy is a sandboxed run's only way out: an inference and
// embedding proxy in front of OpenAI-compatible providers that meters every
// call against the run's budget.
//
// It speaks OpenAI's API (POST /v1/chat/completions, streaming or not, POST
// /v1/embeddings, GET /v1/models) and both of Ridges' contracts (POST
// /agents/inference and /agents/embedding of AI_PROXY_URL; POST
// /api/inference and /api/embedding of SANDBOX_PROXY_URL, its later
// gateway), so agents written for either work unchanged. Ridges'
// embedding bodies may send "input" or "text" and get {"embedding": [...]}
// back; Config.Aliases serves Ridges' model names with the operator's.
// GET /agora/budget tells a run what it has left, and GET /healthz
// answers probes.
//
// Metering is what Ridges got wrong, and the reason for most of this code.
// Before a call goes upstream, its worst case is reserved against the
// run's budget: a bound on its prompt tokens read from the body, times the
// input price, plus its completion cap times the output price. A call
// whose worst case does not fit what is left is refused with HTTP 402, so
// spend plus reservations never exceed the budget, however many calls a
// run makes at once. When the call ends it is charged from the usage the
// provider reports (in integer micro-dollars) and the rest of its
// reservation is released; a reply without usage is charged the whole
// reservation, never nothing. Spend is recorded in a Ledger and never
// forgotten while the run lives.
//
// A run may have MaxInFlight calls upstream at once; more wait their turn
// in a bounded queue, as they also do for budget that calls in flight hold
// but may release, and are refused only when the queue is full or their
// wait times out. Every refusal is an OpenAI-shaped JSON error and is
// counted on the run's record. Content parts that name remote URLs are
// refused unless the operator allows them: a provider that fetches URLs
// would be a way out of the sandbox.
//
// A validator gives each run its own handler, ForRun, served on a listener
// inside that run's network namespace: the listener is the run's identity,
// so a run cannot spend another's budget whatever it puts in its requests.
// Handler serves many runs at once for the standalone `agora proxy`, with
// the run named by the X-Agora-Run header or the Ridges run_id field; that
// mode trusts its clients to name their own run.
package proxy

import (
	"log/slog"
	"sync"
	"time"
)

// Prompt bound. A byte-level BPE token (GPT, Llama 3, Qwen, DeepSeek) or a
// SentencePiece token with byte fallback covers at least one byte of text,
// so a prompt has at most as many tokens as the bytes of its text; the
// forwarded body holds all of that text (JSON escapes only lengthen it)
// plus the JSON syntax around it. The chat template adds a few tokens per
// message (role markers, separators) which the syntax of a message,
// `{"role":"user","content":""}`, already outweighs; promptPerMessage and
// promptPerCall cover them anyway, for messages as short as `{}`.
const (
	promptPerMessage = 8
	promptPerCall    = 32
)

// Proxy is the metering proxy. Build it with New; it is safe for
// concurrent use.
type Proxy struct {
	cfg       Config
	routes    map[string]*route
	names     []string // allowed model names, sorted
	extra     map[string]bool
	log       *slog.Logger
	m         *metrics
	mu        sync.Mutex
	runs      map[string]*runState
	ledgerCtx time.Duration // how long a ledger write may take
}

// route is an allowed model with its resolved upstream.
type route struct {
	Model
	up *Upstream
}

// Models lists the allowed models, sorted by name.
func (p *Proxy) Models() []Model {
	out := make([]Model, 0, len(p.names))
	for _, n := range p.names {
		out = append(out, p.routes[n].Model)
	}
	return out
}
