package http

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"

	"github.com/agoranet/agora"
)

// reply encodes v for the caller. Owners and validators get it whole;
// everyone else gets it through redact, the one place that decides what a
// miner or the public may read. Every JSON response goes through here.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	writeJSON(w, status, s.viewer(r).redact(v))
}

// viewer redacts the responses of one request (or one event stream). It
// caches what it looks up: a response lists many records of few tasks.
type viewer struct {
	s          *Server
	ctx        context.Context
	who        string // the verified caller, "" when unsigned
	privileged bool
	tasks      map[string]*agora.Task // as stored; nil when it could not be read
	subs       map[string]*agora.Submission
	leagues    map[string]bool
	evaluates  map[string]bool // submission ids the caller is assigned to evaluate
}

func (s *Server) viewer(r *http.Request) *viewer {
	return &viewer{s: s, ctx: r.Context(), who: agora.HotkeyFromContext(r.Context()), privileged: s.privileged(r),
		tasks: map[string]*agora.Task{}, subs: map[string]*agora.Submission{}, leagues: map[string]bool{}, evaluates: map[string]bool{}}
}

// redact returns x as the caller may see it. It walks x, whatever its
// shape (pointers, slices, maps, interfaces, structs that embed others),
// and rewrites every root record it finds in place: the records are read
// for this request and not shared. Rules, by type:
//   - Task: Public (no gold patch, no validator env, no hidden tests); a
//     hidden league problem only as HiddenProblem.
//   - Submission: the patch only for its miner and its assigned
//     evaluators; on a sealed task the verdict's Redacted form.
//   - Result: on a sealed task (agora.Sealed) its Redacted form: status
//     and reason class.
//   - Lease, ReplaySpec: no frozen spec (it holds the tests).
//   - Assignment: the submission only for its evaluator.
//   - Event: the allowlisted fields, metrics as on the verdict.
//
// Anything it cannot look up is treated as sealed: it fails closed.
func (v *viewer) redact(x any) any {
	if v.privileged || x == nil {
		return x
	}
	rv := reflect.New(reflect.TypeOf(x)).Elem()
	rv.Set(reflect.ValueOf(x))
	v.walk(rv)
	return rv.Interface()
}

// walk redacts x in place; x is settable.
func (v *viewer) walk(x reflect.Value) {
	switch x.Kind() {
	case reflect.Pointer:
		if !x.IsNil() {
			v.walk(x.Elem())
		}
	case reflect.Interface:
		if x.IsNil() {
			return
		}
		// An interface's value is not addressable: redact a copy.
		c := reflect.New(x.Elem().Type()).Elem()
		c.Set(x.Elem())
		v.walk(c)
		x.Set(c)
	case reflect.Slice, reflect.Array:
		if x.Type().Elem().Kind() == reflect.Uint8 {
			return // bytes: raw JSON is handled by its owner
		}
		for i := 0; i < x.Len(); i++ {
			v.walk(x.Index(i))
		}
	case reflect.Map:
		if x.IsNil() {
			return
		}
		for it := x.MapRange(); it.Next(); {
			c := reflect.New(it.Value().Type()).Elem()
			c.Set(it.Value())
			v.walk(c)
			x.SetMapIndex(it.Key(), c)
		}
	case reflect.Struct:
		if v.record(x.Addr().Interface()) {
			return
		}
		for i := 0; i < x.NumField(); i++ {
			if x.Type().Field(i).IsExported() {
				v.walk(x.Field(i))
			}
		}
	}
}

// record redacts a root record; it reports whether it handled the whole
// record (false: walk its fields too).
func (v *viewer) record(p any) bool {
	switch p := p.(type) {
	case *agora.Task:
		v.task(p)
	case *agora.Submission:
		v.submission(p)
	case *agora.Result:
		t := v.taskOfSubmission(p.SubmissionID)
		if t == nil || agora.Sealed(t) {
			*p = *p.Redacted()
		}
	case *agora.Lease:
		p.ReplaySpec = nil
		return false
	case *agora.ReplaySpec:
		*p = agora.ReplaySpec{Version: p.Version, TaskID: p.TaskID, Kind: p.Kind}
	case *agora.Assignment:
		if p.Evaluator != v.who {
			p.Submission = nil
		}
		return false
	case *agora.Event:
		v.event(p)
	default:
		return false
	}
	return true
}

func (v *viewer) task(t *agora.Task) {
	if t.Visibility == agora.VisibilityHidden && v.isLeague(t.Competition) {
		*t = *agora.HiddenProblem(t)
		return
	}
	*t = *t.Public()
}

func (v *viewer) submission(s *agora.Submission) {
	t := v.taskOf(s.TaskID)
	if v.who == "" || (v.who != s.Miner && !v.evaluator(t, s.ID)) {
		s.Patch, s.ClientKey = "", ""
		if s.Hold != nil { // a finding quotes the patch
			for i := range s.Hold.Findings {
				s.Hold.Findings[i].Text = ""
			}
		}
	}
	if s.Verdict != nil && (t == nil || agora.Sealed(t)) {
		if t == nil {
			t = &agora.Task{}
		}
		s.Verdict = s.Verdict.Redacted(t)
	}
}

// eventFields are the event payload fields the public stream carries; a
// field added to an event later stays off the stream until listed here.
var eventFields = map[string]bool{
	"task_id": true, "slug": true, "kind": true, "submission_id": true, "job_id": true, "jobs": true, "requeued": true,
	"miner_hotkey": true, "status": true, "disputed": true, "metrics": true,
	"agent_id": true, "competition": true, "version": true, "score": true, "crowned": true,
}

func (v *viewer) event(e *agora.Event) {
	var m map[string]any
	if json.Unmarshal(e.Data, &m) != nil {
		e.Data = json.RawMessage(`{}`)
		return
	}
	for k := range m {
		if !eventFields[k] {
			delete(m, k)
		}
	}
	if metrics, ok := m["metrics"].(map[string]any); ok {
		id, _ := m["task_id"].(string)
		t := v.taskOf(id)
		if t == nil || agora.Sealed(t) {
			for k := range metrics {
				if t == nil || (k != t.MetricName && k != t.SecondaryMetricName) {
					delete(metrics, k)
				}
			}
		}
	}
	e.Data, _ = json.Marshal(m)
}

// taskOf returns a task as stored, or nil when it cannot be read.
func (v *viewer) taskOf(id string) *agora.Task {
	if t, ok := v.tasks[id]; ok {
		return t
	}
	t, err := v.s.Store.FindTaskByID(v.ctx, id)
	if err != nil {
		t = nil
	}
	v.tasks[id] = t
	return t
}

func (v *viewer) taskOfSubmission(id string) *agora.Task {
	s, ok := v.subs[id]
	if !ok {
		var err error
		if s, err = v.s.Store.FindSubmissionByID(v.ctx, id); err != nil {
			s = nil
		}
		v.subs[id] = s
	}
	if s == nil {
		return nil
	}
	return v.taskOf(s.TaskID)
}

// isLeague reports whether a competition runs an agent league; when that
// cannot be read it answers yes, the stricter view.
func (v *viewer) isLeague(comp string) bool {
	if comp == "" {
		return false
	}
	if ok, seen := v.leagues[comp]; seen {
		return ok
	}
	_, err := v.s.Store.FindLeague(v.ctx, comp)
	ok := agora.ErrorCode(err) != agora.ENOTFOUND
	v.leagues[comp] = ok
	return ok
}

// evaluator reports whether the caller is assigned to evaluate the
// submission (it then needs the patch).
func (v *viewer) evaluator(t *agora.Task, subID string) bool {
	if v.who == "" || t == nil || t.CompetitionMode != agora.ModePeerEvaluation {
		return false
	}
	if ok, seen := v.evaluates[subID]; seen {
		return ok
	}
	_, n, err := v.s.Store.FindAssignments(v.ctx, agora.AssignmentFilter{SubmissionID: &subID, Evaluator: &v.who, Limit: 1})
	ok := err == nil && n > 0
	v.evaluates[subID] = ok
	return ok
}
