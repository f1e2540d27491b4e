package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/clip"
)

// RPCError is a JSON-RPC error object returned by the node. Method names
// the call, with the runtime API function or storage item where that is
// what failed ("state_call NeuronInfoRuntimeApi_get_neurons_lite").
type RPCError struct {
	Method  string
	Code    int
	Message string
	Data    json.RawMessage // optional; for 1010 a string such as "Transaction is outdated"
}

// Author-RPC error codes of Substrate (sc-rpc-api author/error.rs) that
// callers of Submit meet most.
const (
	CodeBadFormat         = 1001 // "Extrinsic has invalid format: …"
	CodeVerification      = 1002 // "Verification Error: …"
	CodeInvalidTx         = 1010 // "Invalid Transaction", Data says why
	CodeUnknownValidity   = 1011
	CodeTemporarilyBanned = 1012
	CodeAlreadyImported   = 1013
	CodeTooLowPriority    = 1014
)

// subtensorRateLimitExceeded is CustomTransactionError::RateLimitExceeded
// (common/src/transaction_error.rs), which the node reports for a weights
// call inside the rate limit as 1010 with data "Custom error: 6".
const subtensorRateLimitExceeded = "Custom error: 6"

// maxErrorData bounds how much of an error's data goes into a message.
const maxErrorData = 300

func (e *RPCError) Error() string {
	s := fmt.Sprintf("chain: %s: rpc error %d: %s", e.Method, e.Code, e.Message)
	if d := e.DataString(); d != "" {
		s += ": " + clip.String(d, maxErrorData)
	}
	return s
}

// DataString returns Data as text: the string itself when Data is a JSON
// string, the raw JSON otherwise, "" when absent or null.
func (e *RPCError) DataString() string {
	if len(e.Data) == 0 || string(e.Data) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(e.Data, &s) == nil {
		return s
	}
	return string(e.Data)
}

// Unwrap classifies the error for agora.ErrorCode: a transaction the pool
// refused is EUNPROCESSABLE (resubmitting the same bytes will not help),
// except subtensor's weights rate limit, which is ERATELIMIT. Other codes
// are left unclassified (EINTERNAL).
func (e *RPCError) Unwrap() error {
	switch {
	case e.Code == CodeInvalidTx && e.DataString() == subtensorRateLimitExceeded:
		return agora.Errorf(agora.ERATELIMIT, "%s (subtensor RateLimitExceeded: wait WeightsSetRateLimit blocks)", e.Error())
	case e.Code >= CodeBadFormat && e.Code < 1100:
		return agora.Errorf(agora.EUNPROCESSABLE, "%s", e.Error())
	}
	return nil
}

// rpcConn is a JSON-RPC 2.0 client over HTTP POST. Substrate nodes serve
// HTTP and WebSocket on one port; HTTP suffices for request/response calls.
type rpcConn struct {
	url      string
	redacted string // scheme://host, for messages: the path or query may hold an API key
	hc       *http.Client
	timeout  time.Duration
	maxResp  int64
	nextID   atomic.Uint64
}

func newRPCConn(rawURL string, hc *http.Client, timeout time.Duration, maxResp int64) (*rpcConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, agora.Errorf(agora.EINVALID, "chain: node URL must be http(s)://host[:port][/path]; got a %s URL", schemeOf(u))
	}
	return &rpcConn{url: rawURL, redacted: u.Scheme + "://" + u.Host, hc: hc, timeout: timeout, maxResp: maxResp}, nil
}

func schemeOf(u *url.URL) string {
	if u == nil || u.Scheme == "" {
		return "scheme-less"
	}
	return u.Scheme
}

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

// call sends one request and returns the raw result ("null" included).
// label names the call in errors; it is method plus what distinguishes the
// call (the runtime API function, the storage item).
//
// Failures are classified for agora.ErrorCode: the node unreachable, not
// answering in time or answering 5xx is EUNAVAILABLE; 429 is ERATELIMIT; an
// over-long answer is ETOOLARGE; a JSON-RPC error object is an *RPCError.
// The caller's own cancellation is returned as ctx.Err(), wrapped.
func (c *rpcConn) call(ctx context.Context, label, method string, params ...any) (json.RawMessage, error) {
	if params == nil {
		params = []any{} // Substrate wants an array, even empty
	}
	id := c.nextID.Add(1)
	body, err := json.Marshal(rpcRequest{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("chain: %s: encode request: %w", label, err)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("chain: %s: %w", label, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, label, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResp+1))
	if err != nil {
		return nil, c.transportError(ctx, label, err)
	}
	if int64(len(data)) > c.maxResp {
		return nil, coded(agora.ETOOLARGE, "chain: %s: node %s answered more than %d bytes", label, c.redacted, c.maxResp)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, coded(agora.ERATELIMIT, "chain: %s: node %s: HTTP %d", label, c.redacted, resp.StatusCode)
	case resp.StatusCode >= 500:
		return nil, coded(agora.EUNAVAILABLE, "chain: %s: node %s: HTTP %d: %s", label, c.redacted, resp.StatusCode, snippet(data))
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("chain: %s: node %s: HTTP %d: %s", label, c.redacted, resp.StatusCode, snippet(data))
	}
	var r rpcResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("chain: %s: node %s sent a non-JSON-RPC answer (%v): %s", label, c.redacted, err, snippet(data))
	}
	if r.Error != nil {
		return nil, &RPCError{Method: label, Code: r.Error.Code, Message: r.Error.Message, Data: r.Error.Data}
	}
	if string(r.ID) != fmt.Sprint(id) {
		return nil, fmt.Errorf("chain: %s: answer has id %s, want %d", label, snippet(r.ID), id)
	}
	if r.Result == nil {
		return nil, fmt.Errorf("chain: %s: answer has neither result nor error", label)
	}
	return r.Result, nil
}

// transportError classifies an error from sending or reading.
func (c *rpcConn) transportError(ctx context.Context, label string, err error) error {
	if ctx.Err() != nil {
		// The caller gave up; that says nothing about the node.
		return fmt.Errorf("chain: %s: %w", label, ctx.Err())
	}
	msg := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("no answer within %s", c.timeout)
	}
	// url.Error repeats the full URL; keep only the redacted form.
	var ue *url.Error
	if errors.As(err, &ue) && !errors.Is(err, context.DeadlineExceeded) {
		msg = ue.Err.Error()
	}
	return coded(agora.EUNAVAILABLE, "chain: %s: node %s unreachable: %s", label, c.redacted, msg)
}

// codedError is an error whose message reads naturally in a chain of
// errors but which agora.ErrorCode and ErrorMessage still classify: it
// unwraps to an *agora.Error carrying the same message.
type codedError struct {
	msg string
	err *agora.Error
}

func (e *codedError) Error() string { return e.msg }
func (e *codedError) Unwrap() error { return e.err }

func coded(code, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &codedError{msg: msg, err: agora.Errorf(code, "%s", msg)}
}

// snippet returns the start of a body for an error message.
func snippet(b []byte) string {
	return clip.String(strings.TrimSpace(string(b)), 200)
}
