package proxy

import "github.com/prometheus/client_golang/prometheus"

// metrics are the proxy's Prometheus series. Labels are bounded on
// purpose: models come from the allowlist only (a refused model never
// becomes a label), and run ids are never labels.
type metrics struct {
	calls        *prometheus.CounterVec   // kind, model, status
	tokens       *prometheus.CounterVec   // kind, model, direction
	cost         *prometheus.CounterVec   // kind, model
	refusals     *prometheus.CounterVec   // reason
	latency      *prometheus.HistogramVec // kind, upstream
	inflight     prometheus.Gauge
	queued       prometheus.Gauge
	queueWait    prometheus.Histogram
	overrun      prometheus.Counter
	ledgerErrors prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_proxy_calls_total", Help: "Calls forwarded upstream, by kind, model and status.",
		}, []string{"kind", "model", "status"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_proxy_tokens_total", Help: "Tokens charged, by kind, model and direction (prompt or completion).",
		}, []string{"kind", "model", "direction"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_proxy_cost_micro_usd_total", Help: "Money charged to runs, in micro-USD, by kind and model.",
		}, []string{"kind", "model"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_proxy_refusals_total", Help: "Requests the proxy refused without calling upstream, by reason (the error's code).",
		}, []string{"reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "agora_proxy_upstream_seconds", Help: "Duration of forwarded calls, streams included.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"kind", "upstream"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agora_proxy_inflight_calls", Help: "Calls in flight upstream.",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agora_proxy_queued_calls", Help: "Calls waiting their turn in their run's queue.",
		}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "agora_proxy_queue_seconds", Help: "How long calls that had to wait waited for their turn.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}),
		overrun: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agora_proxy_overrun_micro_usd_total", Help: "Charges beyond calls' reservations: upstreams that reported more than the configured caps allow.",
		}),
		ledgerErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agora_proxy_ledger_errors_total", Help: "Charges the ledger failed to record (the in-memory spend still has them).",
		}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.calls, m.tokens, m.cost, m.refusals, m.latency, m.inflight, m.queued, m.queueWait, m.overrun, m.ledgerErrors} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// observe counts one settled call.
func (m *metrics) observe(e *Entry) {
	m.calls.WithLabelValues(e.Kind, e.Model, e.Status).Inc()
	m.tokens.WithLabelValues(e.Kind, e.Model, "prompt").Add(float64(e.PromptTokens))
	if e.Kind == KindInference {
		m.tokens.WithLabelValues(e.Kind, e.Model, "completion").Add(float64(e.CompletionTokens))
	}
	m.cost.WithLabelValues(e.Kind, e.Model).Add(float64(e.Cost))
	m.latency.WithLabelValues(e.Kind, e.Upstream).Observe(e.Duration.Seconds())
}
