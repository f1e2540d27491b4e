package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
		if _, err := c.do(ctx, c.plain, "GET", "/api/v1/info", nil, &info); err != nil {
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

// call sends a request, signed when the client has a signer, and decodes
// the reply into out: JSON, or the raw bytes for a *[]byte. in is sent as
// JSON, or as is when it is a []byte.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	_, err := c.callStatus(ctx, method, path, in, out)
	return err
}

// callStatus is call that also returns the reply's status.
func (c *Client) callStatus(ctx context.Context, method, path string, in, out any) (int, error) {
	if err := c.init(ctx); err != nil {
		return 0, err
	}
	hc := c.plain
	if c.Signer != nil {
		hc = c.signed
	}
	return c.do(ctx, hc, method, path, in, out)
}

func (c *Client) do(ctx context.Context, hc *http.Client, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		switch v := in.(type) {
		case []byte:
			body = bytes.NewReader(v)
		default:
			b, err := json.Marshal(in)
			if err != nil {
				return 0, fmt.Errorf("encode %s request: %w", path, err)
			}
			body = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return 0, fmt.Errorf("coordinator request %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, agora.Errorf(agora.EUNAVAILABLE, "coordinator %s: %v", c.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, agora.Errorf(agora.EUNAVAILABLE, "coordinator %s: read reply: %v", c.URL, err)
	}
	if resp.StatusCode >= 400 {
		var e ErrorResponse
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return resp.StatusCode, &agora.Error{Code: e.Error.Code, Message: e.Error.Message}
		}
		return resp.StatusCode, agora.Errorf(FromErrorStatusCode(resp.StatusCode), "coordinator %s: %s: %s", c.URL, resp.Status, strings.TrimSpace(string(data)))
	}
	switch v := out.(type) {
	case nil:
	case *[]byte:
		*v = data
	default:
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("coordinator %s: decode %s reply: %w", c.URL, path, err)
		}
	}
	return resp.StatusCode, nil
}
