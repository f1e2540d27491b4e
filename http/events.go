package http

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora"
)

// registerEventRoutes registers the event stream.
func (s *Server) registerEventRoutes() {
	s.handle("GET /api/v1/events", s.handleEvents)
}

// handleEvents streams the event log as Server-Sent Events, from the id in
// Last-Event-ID (or ?after=) on; without one it starts at the newest.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, r, s.Logger, agora.Errorf(agora.EINTERNAL, "streaming unsupported"))
		return
	}
	after := int64(-1)
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")} {
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, r, s.Logger, agora.Errorf(agora.EINVALID, "Last-Event-ID: must be a non-negative integer"))
			return
		}
		after = n
	}
	if after < 0 {
		after = 0
		for {
			evs, err := s.Store.FindEvents(r.Context(), after, 1000)
			if err != nil {
				writeError(w, r, s.Logger, err)
				return
			}
			if len(evs) == 0 {
				break
			}
			after = evs[len(evs)-1].ID
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": agora events from %d\n\n", after)
	flusher.Flush()
	// Replicas do not share the in-process wake-up, so a short poll
	// covers events committed by another replica.
	view := s.viewer(r)
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		wake := s.events.wait()
		evs, err := s.Store.FindEvents(r.Context(), after, 100)
		if err != nil {
			return
		}
		for _, e := range evs {
			// The stream is unsigned: every payload is the public's view.
			if pub, ok := view.redact(e).(*agora.Event); ok {
				e = pub
			} else {
				e = &agora.Event{ID: e.ID, Type: e.Type, Data: json.RawMessage(`{}`)}
			}
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, compact(e.Data))
			after = e.ID
		}
		if len(evs) > 0 {
			flusher.Flush()
			if len(evs) == 100 {
				continue
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-wake:
		case <-poll.C:
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			flusher.Flush()
		}
	}
}

func compact(b json.RawMessage) string {
	return strings.ReplaceAll(string(b), "\n", " ")
}

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
