package http

import (
	"context"
	"net/http"
	"net/url"
	"sync"

	"github.com/agoranet/agora"
)

// registerLeaderboardRoutes registers a task's best result and board, and
// a competition's standings.
func (s *Server) registerLeaderboardRoutes() {
	s.handle("GET /api/v1/tasks/{id}/best", s.public(s.handleBest))
	s.handle("GET /api/v1/tasks/{id}/leaderboard", s.public(s.handleTaskBoard))
	s.handle("GET /api/v1/competitions/{name}/leaderboard", s.public(s.handleCompetitionBoard))
}

// board ranks a task's accepted submissions (agora.RankTask).
func (s *Server) board(ctx context.Context, id string) (*agora.TaskBoard, error) {
	t, err := s.Store.FindTaskByID(ctx, id)
	if err != nil {
		return nil, err
	}
	subs, err := s.boardSubmissions(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	return agora.RankTask(t, subs), nil
}

// MaxCachedBoardSubmissions bounds the submissions the board cache holds.
const MaxCachedBoardSubmissions = 200_000

// boardCache keeps each task's accepted submissions (bodiless) with the
// count they were read at. A task's accepted set only grows and its
// members never change (a verdict is decided once), so an unchanged count
// means an unchanged set: a board costs one counting query until a new
// submission is accepted. Replicas each keep their own; the count comes
// from the shared database.
type boardCache struct {
	mu    sync.Mutex
	tasks map[string][]*agora.Submission
	held  int
}

// boardSubmissions returns a task's accepted submissions, from the cache
// while their count is unchanged. The slice is shared: callers only read.
func (s *Server) boardSubmissions(ctx context.Context, taskID string) ([]*agora.Submission, error) {
	n, err := s.Store.AcceptedCount(ctx, taskID)
	if err != nil {
		return nil, err
	}
	c := &s.boards
	c.mu.Lock()
	subs, ok := c.tasks[taskID]
	c.mu.Unlock()
	if ok && len(subs) == n {
		return subs, nil
	}
	if subs, err = s.Store.BoardSubmissions(ctx, taskID); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tasks == nil || c.held+len(subs) > MaxCachedBoardSubmissions {
		c.tasks, c.held = map[string][]*agora.Submission{}, 0
	}
	c.held += len(subs) - len(c.tasks[taskID])
	c.tasks[taskID] = subs
	return subs, nil
}

func (s *Server) handleBest(w http.ResponseWriter, r *http.Request) error {
	b, err := s.board(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if b.Best == nil {
		return agora.Errorf(agora.ENOTFOUND, "task %s has no accepted submission yet", r.PathValue("id"))
	}
	s.reply(w, r, http.StatusOK, b.Best)
	return nil
}

func (s *Server) handleTaskBoard(w http.ResponseWriter, r *http.Request) error {
	b, err := s.board(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, b)
	return nil
}

// CompetitionBoard is the body of GET /api/v1/competitions/{name}/leaderboard.
type CompetitionBoard struct {
	Competition string                       `json:"competition"`
	Tasks       int                          `json:"tasks"`
	Standings   []*agora.CompetitionStanding `json:"standings"`
}

func (s *Server) handleCompetitionBoard(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	f := agora.TaskFilter{Limit: 1000}
	if name != "all" {
		f.Competition = &name
	}
	var boards []*agora.TaskBoard
	for {
		tasks, total, err := s.Store.FindTasks(r.Context(), f)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			b, err := s.board(r.Context(), t.ID)
			if err != nil {
				return err
			}
			boards = append(boards, b)
		}
		f.Offset += len(tasks)
		if len(tasks) == 0 || f.Offset >= total {
			break
		}
	}
	if len(boards) == 0 && name != "all" {
		return agora.Errorf(agora.ENOTFOUND, "competition %q has no tasks", name)
	}
	s.reply(w, r, http.StatusOK, CompetitionBoard{Competition: name, Tasks: len(boards), Standings: agora.RankCompetition(boards)})
	return nil
}

// Leaderboard returns a task's board.
func (c *Client) Leaderboard(ctx context.Context, taskID string) (*agora.TaskBoard, error) {
	var out agora.TaskBoard
	return &out, c.call(ctx, "GET", "/api/v1/tasks/"+url.PathEscape(taskID)+"/leaderboard", nil, &out)
}

// Best returns a task's best result.
func (c *Client) Best(ctx context.Context, taskID string) (*agora.Standing, error) {
	var out agora.Standing
	return &out, c.call(ctx, "GET", "/api/v1/tasks/"+url.PathEscape(taskID)+"/best", nil, &out)
}

// CompetitionBoard returns standings across a competition ("all" for every task).
func (c *Client) CompetitionBoard(ctx context.Context, name string) (*CompetitionBoard, error) {
	var out CompetitionBoard
	return &out, c.call(ctx, "GET", "/api/v1/competitions/"+url.PathEscape(name)+"/leaderboard", nil, &out)
}
