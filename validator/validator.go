// Package validator is the validator's work loop: lease replay jobs from
// the coordinator, replay each in the sandbox, and report signed results,
// surviving a coordinator that is down or slow and jobs that fail.
package validator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	"github.com/prometheus/client_golang/prometheus"
)

// Coordinator is what a validator needs from the coordinator: the job
// verbs of agora.JobService, for the validator whose hotkey signs the
// calls (so no validator argument), and the event stream. http.Client
// provides it.
type Coordinator interface {
	// LeaseJobs leases up to req.Max jobs for req.TTL.
	LeaseJobs(ctx context.Context, req agora.LeaseRequest) ([]*agora.Lease, error)
	// RenewLease extends a held lease. EFORBIDDEN, ECONFLICT or ENOTFOUND
	// mean the lease is lost.
	RenewLease(ctx context.Context, jobID string, ttl time.Duration) (*agora.Job, error)
	// ReleaseJob gives a held job back to the queue without a result.
	ReleaseJob(ctx context.Context, jobID string) (*agora.Job, error)
	// RecordResult posts a result for job r.JobID; posting the same
	// result again is harmless. EUNAVAILABLE, ERATELIMIT and EINTERNAL
	// are worth retrying; other errors refuse the result for good.
	RecordResult(ctx context.Context, r *agora.Result, log []byte) (*agora.Result, bool, error)
	// Subscribe sends the type of each event on the coordinator's stream
	// (agora.EventJobAvailable says jobs may be waiting). It may never
	// send anything: polling covers that. Nil is a stream that never
	// sends.
	Subscribe(ctx context.Context) <-chan string
}

// Replayer turns a replay spec into a result and its log. It never fails:
// a problem is a result with status error (or rejected) and a reason.
type Replayer interface {
	Replay(ctx context.Context, spec *agora.ReplaySpec) (*agora.Result, []byte)
}

// Defaults.
const (
	DefaultConcurrency = 1
	DefaultLeaseTTL    = 10 * time.Minute
	DefaultPoll        = 5 * time.Second
	DefaultDrain       = 2 * time.Minute
)

// Validator runs jobs. Set the fields, then Run.
type Validator struct {
	Coordinator Coordinator
	Replayer    Replayer
	Concurrency int
	LeaseTTL    time.Duration
	// Poll is how often to ask for work when no event says there is some.
	Poll time.Duration
	// Drain is how long jobs in hand may run after Run's context ends;
	// what is not finished by then is released to the queue.
	Drain    time.Duration
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// OnJob, when set, is told when a job starts and ends (progress).
	OnJob func(ev JobEvent)
	// Artifacts, when set, removes a submission's artifact once its result
	// is posted: a verdict is final, the bytes are not needed again.
	Artifacts ArtifactRemover
	// Signer, when set, signs every result (hotkey.SignResult) so anyone
	// can check it later (agora replay). It must be the hotkey the
	// Coordinator client signs requests with: the coordinator takes a
	// result signed by the validator that posts it, and no other.
	Signer *hotkey.Signer

	jobs     *prometheus.CounterVec
	running  prometheus.Gauge
	duration prometheus.Histogram
}

// JobEvent reports progress on one job.
type JobEvent struct {
	Job    *agora.Job
	Kind   string // task kind
	Done   bool
	Result *agora.Result
}

func (v *Validator) defaults() {
	if v.Concurrency <= 0 {
		v.Concurrency = DefaultConcurrency
	}
	if v.LeaseTTL <= 0 {
		v.LeaseTTL = DefaultLeaseTTL
	}
	if v.Poll <= 0 {
		v.Poll = DefaultPoll
	}
	if v.Drain <= 0 {
		v.Drain = DefaultDrain
	}
	if v.Logger == nil {
		v.Logger = slog.Default()
	}
	v.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agora_validator_jobs_total", Help: "Jobs replayed, by result status."}, []string{"status"})
	v.running = prometheus.NewGauge(prometheus.GaugeOpts{Name: "agora_validator_jobs_running", Help: "Jobs being replayed."})
	v.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "agora_validator_replay_seconds", Help: "Replay duration.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 14)})
	if v.Registry != nil {
		v.Registry.MustRegister(v.jobs, v.running, v.duration)
	}
}

// Run leases and replays jobs until ctx ends; then it stops leasing,
// lets jobs in hand finish within Drain, releases the rest, and returns.
// Coordinator trouble is retried with backoff, never fatal.
func (v *Validator) Run(ctx context.Context) error {
	v.defaults()
	// Jobs run on their own context, so SIGTERM does not cut a replay
	// short; it is cancelled only when the drain time is up.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	slots := make(chan struct{}, v.Concurrency)
	freed := make(chan struct{}, v.Concurrency)
	var wg sync.WaitGroup
	wake := wakeups(ctx, v.Coordinator.Subscribe(ctx))
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		free := v.Concurrency - len(slots)
		if free > 0 {
			leases, err := v.Coordinator.LeaseJobs(ctx, agora.LeaseRequest{Max: free, TTL: v.LeaseTTL})
			switch {
			case err != nil && ctx.Err() == nil:
				backoff = nextBackoff(backoff)
				v.Logger.Warn("lease failed; retrying", "err", agora.ErrorMessage(err), "in", backoff.Round(time.Millisecond))
				sleep(ctx, backoff)
				continue
			case err == nil:
				backoff = 0
			}
			for _, l := range leases {
				slots <- struct{}{}
				wg.Add(1)
				go func(l *agora.Lease) {
					defer wg.Done()
					defer func() { <-slots; freed <- struct{}{} }()
					v.handle(jobCtx, l)
				}(l)
			}
			if len(leases) == free {
				continue // maybe more waiting
			}
		}
		t := time.NewTimer(v.Poll)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-freed:
		case <-t.C:
		}
		t.Stop()
	}
	// Drain: give jobs in hand their time, then cut them and release.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if len(slots) > 0 {
		v.Logger.Info("stopping: finishing jobs in hand", "jobs", len(slots), "drain", v.Drain)
	}
	select {
	case <-done:
	case <-time.After(v.Drain):
		cancelJobs()
		<-done
	}
	return nil
}

// wakeups turns the event stream into a signal that jobs may be
// available: one pending wake-up at most.
func wakeups(ctx context.Context, events <-chan string) <-chan struct{} {
	if events == nil {
		return nil
	}
	out := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				if ev != agora.EventJobAvailable {
					continue
				}
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		d = 500 * time.Millisecond
	} else {
		d *= 2
	}
	if d > 30*time.Second {
		d = 30 * time.Second
	}
	// Jitter keeps many validators from retrying in step.
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// handle replays one job: it renews the lease while the replay runs and
// reports the result, retrying until the coordinator takes it. If jobCtx
// is cancelled (drain time over) the job is released instead.
func (v *Validator) handle(jobCtx context.Context, l *agora.Lease) {
	log := v.Logger.With("job", l.Job.ID, "submission", l.Submission.ID)
	v.running.Inc()
	defer v.running.Dec()
	start := time.Now()
	var spec agora.ReplaySpec
	var res *agora.Result
	var out []byte
	if agora.SHA256Hex(l.ReplaySpec) != l.ReplaySpecHash {
		res = errorResult("replay spec does not match its hash %s", l.ReplaySpecHash)
	} else if err := json.Unmarshal(l.ReplaySpec, &spec); err != nil {
		res = errorResult("replay spec: %v", err)
	}
	if v.OnJob != nil {
		v.OnJob(JobEvent{Job: l.Job, Kind: spec.Kind})
	}
	if res == nil {
		log.Info("replaying", "kind", spec.Kind, "task", spec.TaskID, "attempt", l.Job.Attempts)
		replayCtx, cancel := context.WithCancel(jobCtx)
		renewDone := make(chan struct{})
		var lost atomic.Bool
		go func() {
			defer close(renewDone)
			if !v.renew(replayCtx, l.Job.ID, log) {
				lost.Store(true)
				cancel()
			}
		}()
		res, out = v.Replayer.Replay(replayCtx, &spec)
		cancel()
		<-renewDone
		if lost.Load() {
			// Another validator may hold the job now; our result would be
			// refused, and the job is not ours to release.
			log.Warn("lease lost during the replay; result dropped")
			return
		}
		if jobCtx.Err() != nil {
			// Drain time ran out: hand the job back rather than report a
			// result the cut-short replay did not earn.
			ctx, c := context.WithTimeout(context.Background(), 10*time.Second)
			if _, err := v.Coordinator.ReleaseJob(ctx, l.Job.ID); err != nil {
				log.Warn("release failed; the lease will expire", "err", agora.ErrorMessage(err))
			} else {
				log.Info("released unfinished job")
			}
			c()
			return
		}
	}
	res.JobID, res.SubmissionID = l.Job.ID, l.Submission.ID
	if v.Signer != nil {
		res.Validator = v.Signer.Address()
		if err := hotkey.SignResult(v.Signer, l.ReplaySpecHash, res); err != nil {
			// Not expected with a loaded key; the result goes unsigned
			// rather than not at all, and replay reports it unsigned.
			log.Error("result not signed", "err", err)
		}
	}
	v.duration.Observe(time.Since(start).Seconds())
	v.report(jobCtx, res, out, log)
	if a := spec.Artifact; a != nil && v.Artifacts != nil {
		if err := v.Artifacts.Remove(a.SHA256); err != nil {
			log.Warn("artifact not removed after the verdict", "sha256", a.SHA256, "err", agora.ErrorMessage(err))
		}
	}
	v.jobs.WithLabelValues(res.Status).Inc()
	if v.OnJob != nil {
		v.OnJob(JobEvent{Job: l.Job, Kind: spec.Kind, Done: true, Result: res})
	}
}

// renew extends the lease every third of its TTL until ctx ends. It
// returns false when the lease is gone (taken by another validator after it
// lapsed): the replay should stop, its result would be refused.
func (v *Validator) renew(ctx context.Context, jobID string, log *slog.Logger) bool {
	t := time.NewTicker(v.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-t.C:
			_, err := v.Coordinator.RenewLease(ctx, jobID, v.LeaseTTL)
			switch code := agora.ErrorCode(err); {
			case err == nil:
			case code == agora.EFORBIDDEN || code == agora.ECONFLICT || code == agora.ENOTFOUND:
				log.Warn("lease lost; abandoning the replay", "err", agora.ErrorMessage(err))
				return false
			default:
				log.Warn("lease renewal failed; will retry", "err", agora.ErrorMessage(err))
			}
		}
	}
}

// report posts the result (for job res.JobID) until the coordinator acknowledges it or refuses
// it for good. Posting is idempotent, so a retry after a lost reply is safe.
func (v *Validator) report(ctx context.Context, res *agora.Result, out []byte, log *slog.Logger) {
	if len(out) > agora.MaxLogBytes {
		out = append(append([]byte{}, out[:agora.MaxLogBytes/2]...), out[len(out)-agora.MaxLogBytes/2+64:]...)
	}
	backoff := time.Duration(0)
	for attempt := 1; ; attempt++ {
		_, _, err := v.Coordinator.RecordResult(ctx, res, out)
		code := agora.ErrorCode(err)
		switch {
		case err == nil:
			log.Info("result reported", "status", res.Status, "reason", res.Reason, "ms", res.DurationMS)
			return
		case code == agora.EUNAVAILABLE || code == agora.ERATELIMIT || code == agora.EINTERNAL:
			if ctx.Err() != nil || attempt > 1000 {
				log.Error("giving up reporting; the lease will expire and another validator replays", "err", agora.ErrorMessage(err))
				return
			}
			backoff = nextBackoff(backoff)
			log.Warn("report failed; retrying", "err", agora.ErrorMessage(err), "in", backoff.Round(time.Millisecond))
			sleep(ctx, backoff)
		default:
			log.Error("result refused", "code", code, "err", agora.ErrorMessage(err))
			return
		}
	}
}

// String describes a result in one line, for terminals.
func String(r *agora.Result) string {
	s := r.Status
	if len(r.ObservedMetrics) > 0 {
		b, _ := json.Marshal(r.ObservedMetrics)
		s += " " + string(b)
	}
	if r.Reason != "" {
		s += " (" + r.Reason + ")"
	}
	return fmt.Sprint(s)
}
