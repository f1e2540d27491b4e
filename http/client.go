package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// Client calls a coordinator. With a Signer, requests are Epistula-signed
// for the coordinator's address, which it learns from /api/v1/info.
// Errors come back as *agora.Error with the server's code and message.
type Client struct {
	URL    string
	Signer *hotkey.Signer
	// HTTP is the underlying client; nil means one with a 60 s timeout.
	HTTP *http.Client

	mu      sync.Mutex
	ready   bool
	signed  *http.Client
	plain   *http.Client
	address string
}

// NewClient returns a client for the coordinator at baseURL.
func NewClient(baseURL string, signer *hotkey.Signer) *Client {
	return &Client{URL: strings.TrimRight(baseURL, "/"), Signer: signer}
}

func (c *Client) init(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		return nil
	}
	c.plain = c.HTTP
	if c.plain == nil {
		c.plain = &http.Client{Timeout: 60 * time.Second}
	}
	if c.Signer != nil {
		// Not cached on failure: the coordinator may come up later.
		var info Info
		if err := c.do(ctx, c.plain, "GET", "/api/v1/info", nil, &info); err != nil {
			return err
		}
		c.address = info.Address
		c.signed = &http.Client{Timeout: c.plain.Timeout,
			Transport:     &hotkey.Transport{Signer: c.Signer, SignedFor: info.Address, Base: c.plain.Transport},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	c.ready = true
	return nil
}

// CoordinatorAddress returns the coordinator's SS58 address.
func (c *Client) CoordinatorAddress(ctx context.Context) (string, error) {
	if err := c.init(ctx); err != nil {
		return "", err
	}
	return c.address, nil
}

// call sends a request, signed when the client has a signer.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	if err := c.init(ctx); err != nil {
		return err
	}
	hc := c.plain
	if c.Signer != nil {
		hc = c.signed
	}
	return c.do(ctx, hc, method, path, in, out)
}

func (c *Client) do(ctx context.Context, hc *http.Client, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		switch v := in.(type) {
		case []byte:
			body = bytes.NewReader(v)
		default:
			b, err := json.Marshal(in)
			if err != nil {
				return err
			}
			body = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return agora.Errorf(agora.EUNAVAILABLE, "coordinator %s: %v", c.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return agora.Errorf(agora.EUNAVAILABLE, "coordinator %s: read reply: %v", c.URL, err)
	}
	if resp.StatusCode >= 400 {
		var e ErrorResponse
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return &agora.Error{Code: e.Error.Code, Message: e.Error.Message}
		}
		return agora.Errorf(FromErrorStatusCode(resp.StatusCode), "coordinator %s: %s: %s", c.URL, resp.Status, strings.TrimSpace(string(data)))
	}
	switch v := out.(type) {
	case nil:
	case *[]byte:
		*v = data
	default:
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("coordinator %s: decode %s reply: %w", c.URL, path, err)
		}
	}
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

// Claim claims a task (miner).
func (c *Client) Claim(ctx context.Context, taskID string, req ClaimRequest) (*agora.Claim, error) {
	var out agora.Claim
	return &out, c.call(ctx, "POST", "/api/v1/tasks/"+url.PathEscape(taskID)+"/claim", req, &out)
}

// TaskAction pauses, resumes or closes a task (owner).
func (c *Client) TaskAction(ctx context.Context, taskID, action string) (*agora.Task, error) {
	var out agora.Task
	return &out, c.call(ctx, "POST", "/api/v1/tasks/"+url.PathEscape(taskID)+"/"+action, nil, &out)
}

// CancelClaim cancels a claim (miner).
func (c *Client) CancelClaim(ctx context.Context, id string) (*agora.Claim, error) {
	var out agora.Claim
	return &out, c.call(ctx, "POST", "/api/v1/claims/"+url.PathEscape(id)+"/cancel", nil, &out)
}

// Submit posts a submission (miner). Retrying with the same ClientKey is safe.
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (*agora.Submission, error) {
	var out agora.Submission
	return &out, c.call(ctx, "POST", "/api/v1/submissions", req, &out)
}

// Submission returns a submission and its verdict.
func (c *Client) Submission(ctx context.Context, id string) (*agora.Submission, error) {
	var out agora.Submission
	return &out, c.call(ctx, "GET", "/api/v1/submissions/"+url.PathEscape(id), nil, &out)
}

// Submissions lists submissions.
func (c *Client) Submissions(ctx context.Context, query url.Values) (*ListResponse[*agora.Submission], error) {
	var out ListResponse[*agora.Submission]
	return &out, c.call(ctx, "GET", "/api/v1/submissions?"+query.Encode(), nil, &out)
}

// Verifications returns a submission's results.
func (c *Client) Verifications(ctx context.Context, submissionID string) ([]*agora.Result, error) {
	var out ListResponse[*agora.Result]
	return out.Items, c.call(ctx, "GET", "/api/v1/verifications?submission_id="+url.QueryEscape(submissionID), nil, &out)
}

// PeerEvaluate posts a peer evaluation (miner).
func (c *Client) PeerEvaluate(ctx context.Context, submissionID string, req EvaluationRequest) (*agora.Result, error) {
	var out agora.Result
	return &out, c.call(ctx, "POST", "/api/v1/submissions/"+url.PathEscape(submissionID)+"/peer-evaluate", req, &out)
}

// Scan leases jobs (validator).
func (c *Client) Scan(ctx context.Context, req ScanRequest) ([]*agora.Lease, error) {
	var out ScanResponse
	return out.Jobs, c.call(ctx, "POST", "/api/v1/validator/submissions/scan", req, &out)
}

// Renew extends a lease (validator).
func (c *Client) Renew(ctx context.Context, jobID string, leaseSeconds int) (*agora.Job, error) {
	var out agora.Job
	return &out, c.call(ctx, "POST", "/api/v1/validator/jobs/"+url.PathEscape(jobID)+"/renew", RenewRequest{LeaseSeconds: leaseSeconds}, &out)
}

// Release gives a job back (validator).
func (c *Client) Release(ctx context.Context, jobID string) (*agora.Job, error) {
	var out agora.Job
	return &out, c.call(ctx, "POST", "/api/v1/validator/jobs/"+url.PathEscape(jobID)+"/release", nil, &out)
}

// PostResult records a job's result (validator). Safe to retry.
func (c *Client) PostResult(ctx context.Context, jobID string, req ResultRequest) (*agora.Result, error) {
	var out agora.Result
	return &out, c.call(ctx, "POST", "/api/v1/validator/jobs/"+url.PathEscape(jobID)+"/result", req, &out)
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

// ReplaySpec returns a frozen replay spec's bytes (owner, validator).
func (c *Client) ReplaySpec(ctx context.Context, hash string) ([]byte, error) {
	var b []byte
	return b, c.call(ctx, "GET", "/api/v1/replay-specs/"+url.PathEscape(hash), nil, &b)
}

// Submit2 posts raw JSON as a submission; tests use it to send bodies the
// typed form cannot express.
func (c *Client) Submit2(ctx context.Context, body []byte) error {
	return c.call(ctx, "POST", "/api/v1/submissions", body, nil)
}

// CallJSON sends a request to any API path and decodes the reply into out;
// for endpoints without a typed method.
func (c *Client) CallJSON(ctx context.Context, method, path string, in, out any) error {
	return c.call(ctx, method, path, in, out)
}

// PutLeague creates or reconfigures the league of a competition (owner).
func (c *Client) PutLeague(ctx context.Context, l *agora.League) (*agora.League, error) {
	var out agora.League
	return &out, c.call(ctx, "PUT", "/api/v1/leagues/"+url.PathEscape(l.Competition), l, &out)
}

// League returns a league with its standings.
func (c *Client) League(ctx context.Context, competition string) (*LeagueResponse, error) {
	var out LeagueResponse
	return &out, c.call(ctx, "GET", "/api/v1/leagues/"+url.PathEscape(competition), nil, &out)
}

// UploadAgent publishes an agent version (miner).
func (c *Client) UploadAgent(ctx context.Context, competition string, req AgentUploadRequest) (*agora.Agent, error) {
	var out agora.Agent
	return &out, c.call(ctx, "POST", "/api/v1/leagues/"+url.PathEscape(competition)+"/agents", req, &out)
}

// Agent returns an agent version.
func (c *Client) Agent(ctx context.Context, id string) (*agora.Agent, error) {
	var out agora.Agent
	return &out, c.call(ctx, "GET", "/api/v1/agents/"+url.PathEscape(id), nil, &out)
}

// Agents lists agent versions (competition, miner_hotkey, status).
func (c *Client) Agents(ctx context.Context, query url.Values) ([]*agora.Agent, int, error) {
	var out struct {
		Agents []*agora.Agent `json:"agents"`
		Total  int            `json:"total"`
	}
	err := c.call(ctx, "GET", "/api/v1/agents?"+query.Encode(), nil, &out)
	return out.Agents, out.Total, err
}

// AgentCode returns league agent code by SHA-256 (validator).
func (c *Client) AgentCode(ctx context.Context, sha256Hex string) ([]byte, error) {
	var out []byte
	return out, c.call(ctx, "GET", "/api/v1/validator/agent-code/"+url.PathEscape(sha256Hex), nil, &out)
}
