package http

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/agoranet/agora"
)

// registerTaskRoutes registers tasks: owners create, import, pause, resume
// and close them; anyone lists and reads them.
func (s *Server) registerTaskRoutes() {
	s.handle("POST /api/v1/tasks", s.signed(agora.RoleOwner, DefaultMaxBody, s.handleCreateTask))
	s.handle("POST /api/v1/tasks/import", s.signed(agora.RoleOwner, DefaultImportMaxBody, s.handleImportTasks))
	s.handle("GET /api/v1/tasks", s.public(s.handleListTasks))
	s.handle("GET /api/v1/tasks/{id}", s.public(s.handleGetTask))
	s.handle("GET /api/v1/tasks/{id}/onboard.md", s.public(s.handleOnboard))
	s.handle("POST /api/v1/tasks/{id}/{action}", s.signed("", DefaultMaxBody, s.handleTaskAction))
}

func (s *Server) handleCreateTask(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var t agora.Task
	if err := decodeJSON(body, &t); err != nil {
		return err
	}
	t.ID, t.CreatedBy = "", who
	if err := s.Store.CreateTask(r.Context(), &t); err != nil {
		return err
	}
	s.Logger.Info("task created", "task", t.ID, "slug", t.Slug, "kind", t.Kind, "owner", who)
	s.reply(w, r, http.StatusCreated, &t)
	return nil
}

// ImportResponse is the body of POST /api/v1/tasks/import.
type ImportResponse struct {
	Created int      `json:"created"`
	IDs     []string `json:"ids"`
}

// handleImportTasks imports SWE-bench instances (a JSON list, an object
// keyed by instance id, or JSONL) as swe tasks, all or none; ?visibility=,
// ?competition= and ?quorum= apply to every one.
func (s *Server) handleImportTasks(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	q := r.URL.Query()
	tmpl := &agora.Task{Visibility: q.Get("visibility"), Competition: q.Get("competition"), CreatedBy: who}
	if v := q.Get("quorum"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return agora.Errorf(agora.EINVALID, "quorum: must be an integer")
		}
		tmpl.Quorum = n
	}
	tasks, err := s.Coordinator.ImportTasks(r.Context(), body, tmpl)
	if err != nil {
		return err
	}
	resp := ImportResponse{Created: len(tasks)}
	for _, t := range tasks {
		resp.IDs = append(resp.IDs, t.ID)
	}
	s.reply(w, r, http.StatusCreated, resp)
	return nil
}

func (s *Server) handleListTasks(w http.ResponseWriter, r *http.Request) error {
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	f := agora.TaskFilter{Kind: optional(r, "kind"), State: optional(r, "state"), Competition: optional(r, "competition"), Limit: limit, Offset: offset}
	tasks, total, err := s.Store.FindTasks(r.Context(), f)
	if err != nil {
		return err
	}
	if tasks == nil {
		tasks = []*agora.Task{}
	}
	s.reply(w, r, http.StatusOK, ListResponse[*agora.Task]{Items: tasks, Total: total})
	return nil
}

func (s *Server) handleGetTask(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Store.FindTaskByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, t)
	return nil
}

func (s *Server) handleOnboard(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Store.FindTaskByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	md, err := s.onboarding(r, t)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Write([]byte(md))
	return nil
}

// onboarding renders t's onboarding as miners see it, whoever asks.
func (s *Server) onboarding(r *http.Request, t *agora.Task) (string, error) {
	t, ok := s.viewer(r).redact(t).(*agora.Task)
	if !ok {
		return "", agora.Errorf(agora.EINTERNAL, "onboarding: redacted task has the wrong type")
	}
	if s.privileged(r) {
		t = t.Public() // onboarding is written for miners
	}
	return Onboarding(t, s.URL()), nil
}

// taskStates are the owners' task actions and the state each sets.
var taskStates = map[string]string{"pause": agora.TaskPaused, "resume": agora.TaskLive, "close": agora.TaskClosed}

// handleTaskAction serves claim (miners) and pause/resume/close (owners).
func (s *Server) handleTaskAction(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	id, action := r.PathValue("id"), r.PathValue("action")
	if action == "claim" {
		return s.handleClaim(w, r, who, body)
	}
	state, ok := taskStates[action]
	if !ok {
		return agora.Errorf(agora.ENOTFOUND, "no action %q on tasks (claim, pause, resume, close)", action)
	}
	if !s.hasRole(agora.RoleOwner, who) {
		return agora.Errorf(agora.EFORBIDDEN, "%s is not an owner", who)
	}
	t, err := s.Store.SetTaskState(r.Context(), id, state)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, t)
	return nil
}

// CreateTask posts a task (owner).
func (c *Client) CreateTask(ctx context.Context, t *agora.Task) (*agora.Task, error) {
	var out agora.Task
	return &out, c.call(ctx, "POST", "/api/v1/tasks", t, &out)
}

// ImportTasks posts SWE-bench instances (owner).
func (c *Client) ImportTasks(ctx context.Context, instances []byte, query url.Values) (*ImportResponse, error) {
	var out ImportResponse
	path := "/api/v1/tasks/import"
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return &out, c.call(ctx, "POST", path, instances, &out)
}

// Tasks lists tasks.
func (c *Client) Tasks(ctx context.Context, query url.Values) (*ListResponse[*agora.Task], error) {
	var out ListResponse[*agora.Task]
	return &out, c.call(ctx, "GET", "/api/v1/tasks?"+query.Encode(), nil, &out)
}

// Task returns a task by id or slug.
func (c *Client) Task(ctx context.Context, id string) (*agora.Task, error) {
	var out agora.Task
	return &out, c.call(ctx, "GET", "/api/v1/tasks/"+url.PathEscape(id), nil, &out)
}

// Onboarding returns a task's onboarding markdown.
func (c *Client) Onboarding(ctx context.Context, id string) (string, error) {
	var b []byte
	err := c.call(ctx, "GET", "/api/v1/tasks/"+url.PathEscape(id)+"/onboard.md", nil, &b)
	return string(b), err
}

// TaskAction pauses, resumes or closes a task (owner).
func (c *Client) TaskAction(ctx context.Context, taskID, action string) (*agora.Task, error) {
	var out agora.Task
	return &out, c.call(ctx, "POST", "/api/v1/tasks/"+url.PathEscape(taskID)+"/"+action, nil, &out)
}
