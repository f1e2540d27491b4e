package forge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/agoranet/agora/swebench"
	"github.com/prometheus/client_golang/prometheus"
)

// Producer makes validated tasks on demand.
type Producer interface {
	// Produce returns up to need new tasks (fewer, or none, when its
	// source is exhausted for now).
	Produce(ctx context.Context, need int) ([]*swebench.Instance, error)
}

// MineProducer produces tasks by mining a repository, newest history
// first. It remembers the commits it has tried, so a refill does not
// validate a rejected candidate again; tasks already in the pool are
// passed in Options.Known.
type MineProducer struct {
	Options MineOptions
	// Observe, if set, is told of every candidate's fate (metrics).
	Observe func(Outcome)

	mu    sync.Mutex
	tried map[string]bool
}

// Produce implements Producer.
func (m *MineProducer) Produce(ctx context.Context, need int) ([]*swebench.Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tried == nil {
		m.tried = map[string]bool{}
	}
	opt := m.Options
	opt.Limit = need
	opt.Skip = func(c string) bool { return m.tried[c] }
	opt.Progress = func(o Outcome) {
		m.tried[o.Commit] = true
		if m.Observe != nil {
			m.Observe(o)
		}
	}
	var out []*swebench.Instance
	_, err := Mine(ctx, opt, func(in *swebench.Instance) error { out = append(out, in); return nil })
	return out, err
}

// Competition is one competition's supply: its producer and the number of
// ready tasks to keep.
type Competition struct {
	Name     string
	Producer Producer
	MinPool  int
}

// Server keeps each competition's pool at or above its minimum, refilling
// in the background, and publishes one task per competition every
// PublishEvery: reserve, publish, acknowledge, or release for a retry
// (a task that fails Pool.MaxAttempts times is dead).
type Server struct {
	Pool         *Pool
	Competitions []Competition
	// Publish makes a task public in the marketplace (the coordinator's
	// hidden-task import, in `agora forge serve`).
	Publish      func(ctx context.Context, competition string, inst *swebench.Instance) error
	PublishEvery time.Duration
	// RefillEvery is how often pools are checked (default 10s).
	RefillEvery time.Duration
	Logger      *slog.Logger
	Metrics     *Metrics
}

// Metrics are the forge's Prometheus metrics.
type Metrics struct {
	Pool        *prometheus.GaugeVec
	Candidates  *prometheus.CounterVec
	Validations *prometheus.CounterVec
	ValidateSec *prometheus.HistogramVec
	Published   *prometheus.CounterVec
}

// NewMetrics registers the forge's metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Pool: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "agora_forge_pool_tasks",
			Help: "Tasks in the pool, by competition and state (ready, reserved, published, dead)."}, []string{"competition", "state"}),
		Candidates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agora_forge_candidates_total",
			Help: "Candidates considered (rate over an hour: candidates per hour)."}, []string{"competition"}),
		Validations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agora_forge_validations_total",
			Help: "Candidates validated by execution, by result (kept, rejected); yield is kept over both."}, []string{"competition", "result"}),
		ValidateSec: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "agora_forge_validation_seconds",
			Help: "Time to validate one candidate (all its runs).", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}, []string{"competition"}),
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agora_forge_published_total",
			Help: "Publication attempts, by result (ok, failed)."}, []string{"competition", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.Pool, m.Candidates, m.Validations, m.ValidateSec, m.Published)
	}
	return m
}

// Observe records a candidate's outcome for competition.
func (m *Metrics) Observe(competition string, o Outcome) {
	if m == nil {
		return
	}
	m.Candidates.WithLabelValues(competition).Inc()
	if o.Validation > 0 {
		result := "rejected"
		if o.Kept != "" {
			result = "kept"
		}
		m.Validations.WithLabelValues(competition, result).Inc()
		m.ValidateSec.WithLabelValues(competition).Observe(o.Validation.Seconds())
	}
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// gauge refreshes competition's pool gauges and returns its counts.
func (s *Server) gauge(ctx context.Context, c string) (map[string]int, error) {
	counts, err := s.Pool.Counts(ctx, c)
	if err != nil {
		return nil, err
	}
	if s.Metrics != nil {
		for state, n := range counts {
			s.Metrics.Pool.WithLabelValues(c, state).Set(float64(n))
		}
	}
	return counts, nil
}

// Refill brings c's ready tasks up to its minimum and returns how many it
// added.
func (s *Server) Refill(ctx context.Context, c Competition) (int, error) {
	counts, err := s.gauge(ctx, c.Name)
	if err != nil {
		return 0, err
	}
	need := c.MinPool - counts[StateReady]
	if need <= 0 {
		return 0, nil
	}
	insts, err := c.Producer.Produce(ctx, need)
	added := 0
	if len(insts) > 0 {
		var aerr error
		if added, aerr = s.Pool.Add(ctx, c.Name, insts...); aerr != nil {
			return 0, aerr
		}
	}
	s.gauge(ctx, c.Name)
	if added > 0 {
		s.log().Info("pool refilled", "competition", c.Name, "added", added, "ready", counts[StateReady]+added, "min", c.MinPool)
	}
	return added, err
}

// PublishOne publishes c's next task: ErrEmpty when none is ready; a
// publication error releases the task for a later retry and is returned.
func (s *Server) PublishOne(ctx context.Context, c string) (*swebench.Instance, error) {
	r, err := s.Pool.Reserve(ctx, c)
	if err != nil {
		return nil, err
	}
	if perr := s.Publish(ctx, c, r.Instance); perr != nil {
		if s.Metrics != nil {
			s.Metrics.Published.WithLabelValues(c, "failed").Inc()
		}
		if err := s.Pool.Release(ctx, r, perr.Error()); err != nil {
			return nil, errors.Join(perr, err)
		}
		s.gauge(ctx, c)
		return nil, fmt.Errorf("forge: publishing %s (attempt %d): %w", r.Instance.InstanceID, r.Attempt, perr)
	}
	if err := s.Pool.Ack(ctx, r); err != nil {
		return nil, err
	}
	if s.Metrics != nil {
		s.Metrics.Published.WithLabelValues(c, "ok").Inc()
	}
	s.gauge(ctx, c)
	s.log().Info("task published", "competition", c, "instance", r.Instance.InstanceID, "attempt", r.Attempt)
	return r.Instance, nil
}

// Run refills and publishes until ctx ends. Each competition refills on
// its own goroutine, so a slow validation holds up no other competition
// and no publication.
func (s *Server) Run(ctx context.Context) error {
	every := s.RefillEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	var wg sync.WaitGroup
	for _, c := range s.Competitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := s.Refill(ctx, c); err != nil && ctx.Err() == nil {
					s.log().Warn("refill failed", "competition", c.Name, "err", err)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(every):
				}
			}
		}()
	}
	if s.PublishEvery > 0 && s.Publish != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(s.PublishEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				for _, c := range s.Competitions {
					if _, err := s.PublishOne(ctx, c.Name); err != nil && !errors.Is(err, ErrEmpty) && ctx.Err() == nil {
						s.log().Warn("publish failed", "competition", c.Name, "err", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}
