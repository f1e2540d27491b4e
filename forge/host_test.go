package forge_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agoranet/agora/forge"
)

// fakeGitHub speaks the two REST routes the forge uses, with GitHub's
// shapes: a commit's pull requests and an issue (pull requests are issues
// with a pull_request member). It checks the headers GitHub asks for.
func fakeGitHub(t *testing.T, token string) *httptest.Server {
	t.Helper()
	pulls := map[string]string{
		"/repos/agora/calc/commits/c1/pulls": `[{"number":7,"title":"Fix mean","body":"Fixes #5 and closes #6.","merged_at":"2024-02-01T10:00:00Z"},{"number":8,"title":"Draft","body":null,"merged_at":null}]`,
		"/repos/agora/calc/commits/c2/pulls": `[{"number":9,"title":"Make mean() keep the fractional part","body":"No issue for this one, just a long enough body.","merged_at":"2024-02-02T10:00:00Z"}]`,
		"/repos/agora/calc/commits/c3/pulls": `[]`,
	}
	issues := map[string]string{
		"/repos/agora/calc/issues/5": `{"number":5,"title":"mean() floors","body":"mean([1, 2]) gives 1 instead of 1.5"}`,
		"/repos/agora/calc/issues/6": `{"number":6,"title":"other","body":"x","pull_request":{"url":"u"}}`,
		"/repos/agora/calc/issues/4": `{"number":4,"title":"Crash on empty input","body":"mean([]) raises ZeroDivisionError"}`,
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/vnd.github+json" || r.Header.Get("X-GitHub-Api-Version") == "" {
			http.Error(w, `{"message":"bad headers"}`, http.StatusBadRequest)
			return
		}
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"message": "Bad credentials"})
			return
		}
		body, ok := pulls[r.URL.Path]
		if !ok {
			body, ok = issues[r.URL.Path]
		}
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"Not Found"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
}

func TestDiscuss(t *testing.T) {
	srv := fakeGitHub(t, "tok")
	defer srv.Close()
	gh := &forge.GitHub{BaseURL: srv.URL, Token: "tok"}
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		commit  string
		message string
		source  string
		number  int
		pull    int
		text    string
	}{
		// The merged pull request's first resolved issue that is not
		// itself a pull request.
		{"issue via pull", "c1", "Fix mean", "issue", 5, 7, "mean() floors\n\nmean([1, 2]) gives 1 instead of 1.5"},
		{"pull text", "c2", "x", "pull", 9, 9, "Make mean() keep the fractional part\n\nNo issue for this one, just a long enough body."},
		// No pull request: the issue the commit message resolves.
		{"issue via message", "c3", "Handle empty input\n\nResolves #4", "issue", 4, 0, "Crash on empty input\n\nmean([]) raises ZeroDivisionError"},
		{"commit message", "c4", "Handle empty input in mean()", "commit", 0, 0, "Handle empty input in mean()"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := forge.Discuss(ctx, gh, "agora/calc", &forge.Candidate{Commit: tt.commit, Message: tt.message})
			if err != nil {
				t.Fatal(err)
			}
			if d.Source != tt.source || d.Number != tt.number || d.Pull != tt.pull || d.Text != tt.text {
				t.Fatalf("Discuss = %+v", d)
			}
		})
	}
	// Without a host the commit message is all there is.
	if d, err := forge.Discuss(ctx, nil, "agora/calc", &forge.Candidate{Commit: "c1", Message: "m"}); err != nil || d.Source != "commit" {
		t.Fatalf("no host: %+v %v", d, err)
	}
	// A refused token is an error that names the host's message, not a
	// silent fallback.
	bad := &forge.GitHub{BaseURL: srv.URL, Token: "wrong"}
	if _, err := forge.Discuss(ctx, bad, "agora/calc", &forge.Candidate{Commit: "c1"}); err == nil || !strings.Contains(err.Error(), "Bad credentials") {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := gh.Issue(ctx, "agora/calc", 99); !errors.Is(err, forge.ErrNotFound) {
		t.Fatalf("missing issue: %v", err)
	}
	if _, err := gh.Issue(ctx, "agora", 1); err == nil || !strings.Contains(err.Error(), "owner/name") {
		t.Fatalf("bad repo: %v", err)
	}
}

func TestResolvedIssues(t *testing.T) {
	got := forge.ResolvedIssues("Fixes #12, closes: #3. Resolved #12 again; see #4; fix #0; prefix#5")
	if len(got) != 2 || got[0] != 12 || got[1] != 3 {
		t.Fatalf("ResolvedIssues = %v", got)
	}
}
