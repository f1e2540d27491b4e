package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agoranet/agora/internal/clip"
)

// ChatRewriter rewrites problem statements with a model behind an
// OpenAI-compatible endpoint, normally Agora's proxy, which meters the
// calls to the run named in its X-Agora-Run header.
type ChatRewriter struct {
	// BaseURL is the API root as OpenAI clients take it, e.g.
	// http://127.0.0.1:8090/v1; "/chat/completions" is added.
	BaseURL, Model string
	// Run names the proxy run the calls are charged to.
	Run string
	// Client defaults to one with a two-minute timeout.
	Client *http.Client
}

// rewritePrompt asks for an issue a user would file: symptoms only. The
// caller still refuses a rewrite that quotes the solution (Statement).
const rewritePrompt = "You turn test failure reports into GitHub issues. Rewrite the report below as an issue a user " +
	"of the project would file: describe the wrong behaviour and the failing tests it shows in, keep the test names and " +
	"error messages exact, and do not guess at the cause, suggest a fix, or include any code that is not in the report. " +
	"Answer with the issue text only."

// Rewrite returns the model's rewrite of statement.
func (r *ChatRewriter) Rewrite(ctx context.Context, statement string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"model": r.Model,
		"messages": []map[string]string{
			{"role": "system", "content": rewritePrompt},
			{"role": "user", "content": statement},
		},
		"temperature": 0.2,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.BaseURL, "/")+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.Run != "" {
		req.Header.Set("X-Agora-Run", r.Run)
	}
	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Minute}
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("chat completion: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("chat completion: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("chat completion: %s: %s", resp.Status, clip.String(strings.TrimSpace(string(data)), 300))
	}
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return "", fmt.Errorf("chat completion: reply: %w", err)
	}
	if len(out.Choices) == 0 || strings.TrimSpace(out.Choices[0].Message.Content) == "" {
		return "", fmt.Errorf("chat completion: reply has no content")
	}
	return strings.TrimSpace(out.Choices[0].Message.Content), nil
}
