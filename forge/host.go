package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// CodeHost finds the discussion behind a commit: the pull request that
// brought it and the issues that pull request resolves. GitHub implements
// it; tests use a local server that speaks GitHub's REST API.
type CodeHost interface {
	// PullsForCommit returns the pull requests that contain commit in
	// repo ("owner/name"), merged ones first.
	PullsForCommit(ctx context.Context, repo, commit string) ([]Pull, error)
	// Issue returns issue number n of repo. A pull request number gives
	// the pull request as an issue; IsPull is then set.
	Issue(ctx context.Context, repo string, n int) (*Issue, error)
}

// Pull is a pull request.
type Pull struct {
	Number   int
	Title    string
	Body     string
	MergedAt *time.Time
}

// Issue is an issue (or a pull request seen as one).
type Issue struct {
	Number int
	Title  string
	Body   string
	IsPull bool
}

// ErrNotFound is returned, wrapped, for a repository, commit or issue the
// host does not have.
var ErrNotFound = errors.New("not found")

// GitHub is CodeHost over GitHub's REST API (v3, 2022-11-28).
type GitHub struct {
	// BaseURL is the API root (default https://api.github.com).
	BaseURL string
	// Token, if set, is sent as a bearer token.
	Token string
	// Client is the HTTP client (default: one with a 30 s timeout).
	Client *http.Client
}

// maxHostBody bounds what is read of one API response.
const maxHostBody = 8 << 20

func (g *GitHub) get(ctx context.Context, p string, v any) error {
	base := g.BaseURL
	if base == "" {
		base = "https://api.github.com"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+p, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "agora-forge")
	if g.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.Token)
	}
	c := g.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("github: GET %s: %w", p, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHostBody+1))
	if err != nil {
		return fmt.Errorf("github: GET %s: %w", p, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("github: GET %s: %w", p, ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		var e struct{ Message string }
		json.Unmarshal(body, &e)
		return fmt.Errorf("github: GET %s: %s: %s", p, resp.Status, e.Message)
	case len(body) > maxHostBody:
		return fmt.Errorf("github: GET %s: response over %d bytes", p, maxHostBody)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("github: GET %s: %w", p, err)
	}
	return nil
}

func repoPath(repo string) (string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("github: repo %q: want owner/name", repo)
	}
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name), nil
}

// PullsForCommit implements CodeHost with GET
// /repos/{owner}/{repo}/commits/{sha}/pulls.
func (g *GitHub) PullsForCommit(ctx context.Context, repo, commit string) ([]Pull, error) {
	rp, err := repoPath(repo)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		Number   int        `json:"number"`
		Title    string     `json:"title"`
		Body     *string    `json:"body"`
		MergedAt *time.Time `json:"merged_at"`
	}
	if err := g.get(ctx, rp+"/commits/"+url.PathEscape(commit)+"/pulls", &raw); err != nil {
		return nil, err
	}
	var merged, open []Pull
	for _, r := range raw {
		p := Pull{Number: r.Number, Title: r.Title, MergedAt: r.MergedAt}
		if r.Body != nil {
			p.Body = *r.Body
		}
		if p.MergedAt != nil {
			merged = append(merged, p)
		} else {
			open = append(open, p)
		}
	}
	return append(merged, open...), nil
}

// Issue implements CodeHost with GET /repos/{owner}/{repo}/issues/{n}.
func (g *GitHub) Issue(ctx context.Context, repo string, n int) (*Issue, error) {
	rp, err := repoPath(repo)
	if err != nil {
		return nil, err
	}
	var raw struct {
		Number      int             `json:"number"`
		Title       string          `json:"title"`
		Body        *string         `json:"body"`
		PullRequest json.RawMessage `json:"pull_request"`
	}
	if err := g.get(ctx, rp+"/issues/"+strconv.Itoa(n), &raw); err != nil {
		return nil, err
	}
	is := &Issue{Number: raw.Number, Title: raw.Title, IsPull: len(raw.PullRequest) > 0 && string(raw.PullRequest) != "null"}
	if raw.Body != nil {
		is.Body = *raw.Body
	}
	return is, nil
}

// closesRe finds the issues a pull request or commit says it resolves,
// with GitHub's closing keywords.
var closesRe = regexp.MustCompile(`(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)\b`)

// ResolvedIssues are the issue numbers text says it resolves, in order,
// without repeats.
func ResolvedIssues(text string) []int {
	var out []int
	seen := map[int]bool{}
	for _, m := range closesRe.FindAllStringSubmatch(text, -1) {
		n, err := strconv.Atoi(m[1])
		if err != nil || n <= 0 || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

// Discussion is where a candidate's problem statement comes from.
type Discussion struct {
	// Source is "issue", "pull" or "commit".
	Source string
	// Number is the issue's or pull request's number (0 for a commit).
	Number int
	// Pull is the pull request that brought the commit, if known.
	Pull int
	// Text is the raw text: title, a blank line, body.
	Text string
}

// Discuss finds the text a task's problem statement is written from: the
// issues the commit's pull request resolves (as SWE-bench does), else the
// pull request itself, else the commit message. host may be nil.
func Discuss(ctx context.Context, host CodeHost, repo string, c *Candidate) (Discussion, error) {
	commitText := Discussion{Source: "commit", Text: c.Message}
	if host == nil {
		return commitText, nil
	}
	pulls, err := host.PullsForCommit(ctx, repo, c.Commit)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Discussion{}, err
	}
	if len(pulls) == 0 {
		for _, n := range ResolvedIssues(c.Message) {
			if d, ok, err := issueText(ctx, host, repo, n, 0); err != nil || ok {
				return d, err
			}
		}
		return commitText, nil
	}
	pr := pulls[0]
	for _, n := range ResolvedIssues(pr.Title + "\n" + pr.Body + "\n" + c.Message) {
		if d, ok, err := issueText(ctx, host, repo, n, pr.Number); err != nil || ok {
			return d, err
		}
	}
	return Discussion{Source: "pull", Number: pr.Number, Pull: pr.Number, Text: pr.Title + "\n\n" + pr.Body}, nil
}

// issueText is issue n as a discussion; ok is false when the host has no
// such issue or n is a pull request.
func issueText(ctx context.Context, host CodeHost, repo string, n, pull int) (Discussion, bool, error) {
	is, err := host.Issue(ctx, repo, n)
	if errors.Is(err, ErrNotFound) {
		return Discussion{}, false, nil
	} else if err != nil {
		return Discussion{}, false, err
	}
	if is.IsPull {
		return Discussion{}, false, nil
	}
	return Discussion{Source: "issue", Number: is.Number, Pull: pull, Text: is.Title + "\n\n" + is.Body}, true, nil
}
