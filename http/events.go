package http

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/agoranet/agora"
)

// Subscribe follows the coordinator's event stream and sends each event's
// type on the returned channel (dropping events when the reader is busy:
// they are wake-ups, not data). It reconnects with backoff, resuming from
// the last event id, until ctx ends.
func (c *Client) Subscribe(ctx context.Context) <-chan string {
	out := make(chan string, 16)
	go func() {
		defer close(out)
		last := ""
		backoff := time.Second
		for ctx.Err() == nil {
			if err := c.stream(ctx, &last, out); err == nil {
				backoff = time.Second
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
	return out
}

func (c *Client) stream(ctx context.Context, last *string, out chan<- string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.URL+"/api/v1/events", nil)
	if err != nil {
		return err
	}
	if *last != "" {
		req.Header.Set("Last-Event-ID", *last)
	}
	// No client timeout: the stream is long-lived by design.
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return agora.Errorf(agora.EUNAVAILABLE, "events: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			*last = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			select {
			case out <- strings.TrimPrefix(line, "event: "):
			default:
			}
		}
	}
	return sc.Err()
}
