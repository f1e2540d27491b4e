package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/agoranet/agora/internal/clip"
)

// call is a checked request on its way upstream.
type call struct {
	kind        string
	route       *route
	body        []byte // exactly what is sent upstream
	stream      bool
	clientUsage bool  // the run asked for the stream's usage chunk
	promptBound int64 // the most prompt tokens the call can have
	outputCap   int64 // the most completion tokens it can have
	reserve     Micros
	form        form // the form of the answer
}

// form is the API a call came in by, which decides the answer's shape.
type form int

const (
	// formOpenAI answers the upstream's reply as is.
	formOpenAI form = iota
	// formAgents is Ridges' /agents/* (AI_PROXY_URL): the completion
	// text as a JSON string, an embedding as {"embedding": [...]}.
	formAgents
	// formAPI is Ridges' gateway /api/* (SANDBOX_PROXY_URL):
	// {"content", "tool_calls"}, an embedding as {"embedding": [...]}.
	formAPI
)

// newCall prices a call's worst case: its reservation.
func newCall(kind string, rt *route, body []byte, promptBound, outputCap int64, stream, clientUsage bool, f form) *call {
	return &call{kind: kind, route: rt, body: body, stream: stream, clientUsage: clientUsage, form: f,
		promptBound: promptBound, outputCap: outputCap, reserve: rt.Price.Cost(promptBound, outputCap)}
}

// estimate is what a call is charged when the upstream does not report
// usage: its worst case, the bounds its reservation was made from, so a
// reply without usage is never cheaper than an honest one. See
// promptPerMessage for the prompt bound; the completion bound is the cap
// the upstream works under.
func (c *call) estimate() (prompt, completion int64) {
	prompt = c.promptBound
	if c.kind == KindInference {
		completion = c.outputCap
	}
	return prompt, completion
}

// usage is what an upstream reported; a field not reported is -1.
type usage struct {
	prompt, completion, total int64
}

var noUsage = usage{-1, -1, -1}

type usageJSON struct {
	PromptTokens     *int64 `json:"prompt_tokens"`
	CompletionTokens *int64 `json:"completion_tokens"`
	TotalTokens      *int64 `json:"total_tokens"`
}

func (u *usageJSON) usage() usage {
	out := noUsage
	if u == nil {
		return out
	}
	if u.PromptTokens != nil && *u.PromptTokens >= 0 {
		out.prompt = *u.PromptTokens
	}
	if u.CompletionTokens != nil && *u.CompletionTokens >= 0 {
		out.completion = *u.CompletionTokens
	}
	out.total = -1
	if u.TotalTokens != nil && *u.TotalTokens >= 0 {
		out.total = *u.TotalTokens
	}
	return out
}

// charge prices the call from u, filling what the upstream did not report
// with the estimate, and sets the entry's status unless one is set.
func (c *call) charge(e *Entry, u usage) {
	estPrompt, estCompletion := c.estimate()
	if c.kind == KindEmbedding && u.prompt < 0 && u.total >= 0 {
		// Some embedding providers report only total_tokens, which for an
		// embedding is all input.
		u.prompt = u.total
	}
	if u.prompt < 0 {
		u.prompt, e.Estimated = estPrompt, true
	}
	switch {
	case c.kind == KindEmbedding:
		u.completion = 0 // embeddings have no output tokens to bill
	case u.completion < 0:
		u.completion, e.Estimated = estCompletion, true
	}
	e.PromptTokens, e.CompletionTokens = u.prompt, u.completion
	e.Cost = c.route.Price.Cost(u.prompt, u.completion)
	if e.Status == "" {
		e.Status = StatusOK
		if e.Estimated {
			e.Status = StatusNoUsage
		}
	}
}

var errTooLarge = errors.New("too large")

// readAll reads r up to max bytes; more is errTooLarge.
func readAll(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || int64(len(b)) > max {
		return nil, errTooLarge
	}
	return b, err
}

// forward sends c upstream for run rs and answers the run.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, rs *runState, c *call) {
	if aerr := p.admit(r.Context(), rs, c); aerr != nil {
		p.refuse(w, rs, aerr)
		return
	}
	up := c.route.up
	// The run's own context is the parent: a run that hangs up stops the
	// upstream call, and the generation it would have been billed for.
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout(c))
	defer cancel()
	e := &Entry{RunID: rs.id, Kind: c.kind, Model: c.route.Name, Upstream: up.Name, Time: p.cfg.Now()}
	// Once the upstream has the whole request it may bill for it, so from
	// then on a failure is charged the estimate.
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			sent.Store(true)
		}
	}}
	path := "/chat/completions"
	if c.kind == KindEmbedding {
		path = "/embeddings"
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, up.BaseURL+path, bytes.NewReader(c.body))
	if err != nil {
		// New checked the base URL and the method and path are constants,
		// so this does not happen; should it, the call fails like an
		// upstream that cannot be reached, and nothing is charged.
		p.log.Error("upstream request", "upstream", up.Name, "err", err)
		aerr := p.failed(ctx, r, e, c, false, noUsage, "could not be reached")
		p.settle(rs, e, c)
		writeError(w, aerr)
		return
	}
	// A fresh header: nothing the run sent reaches the upstream.
	req.Header.Set("Content-Type", "application/json")
	if up.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+up.APIKey)
	}
	if c.stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		aerr := p.failed(ctx, r, e, c, sent.Load(), noUsage, "did not answer")
		p.settle(rs, e, c)
		writeError(w, aerr)
		return
	}
	defer resp.Body.Close()
	e.HTTPStatus = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := upstreamMessage(resp.Body)
		e.Status = StatusUpstreamError
		p.settle(rs, e, c)
		writeError(w, &apiError{status: http.StatusBadGateway, typ: "upstream_error", upstreamStatus: resp.StatusCode,
			msg: fmt.Sprintf("upstream %s answered %d: %s", up.Name, resp.StatusCode, msg)})
		return
	}
	if c.stream {
		p.stream(ctx, w, r, resp, rs, c, e)
		return
	}
	body, err := readAll(resp.Body, p.cfg.MaxResponse)
	if err != nil {
		what := "reply could not be read"
		if err == errTooLarge {
			what = fmt.Sprintf("reply is larger than %d bytes", p.cfg.MaxResponse)
		}
		aerr := p.failed(ctx, r, e, c, true, noUsage, what)
		p.settle(rs, e, c)
		writeError(w, aerr)
		return
	}
	var reply struct {
		Usage *usageJSON `json:"usage"`
	}
	_ = json.Unmarshal(body, &reply) // a reply that is not JSON has no usage: estimated
	c.charge(e, reply.Usage.usage())
	out, aerr := c.answer(body, up.Name)
	p.settle(rs, e, c)
	if e.Estimated {
		p.log.Warn("upstream reply lacked usage; charged the conservative estimate", "run", rs.id, "model", c.route.Name,
			"prompt_tokens", e.PromptTokens, "completion_tokens", e.CompletionTokens, "cost", e.Cost.String())
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// failed classifies a call that broke: the entry's status and charge, and
// the error for the run. sent says whether the upstream had the request.
func (p *Proxy) failed(ctx context.Context, r *http.Request, e *Entry, c *call, sent bool, u usage, what string) *apiError {
	up := c.route.up.Name
	var aerr *apiError
	switch {
	case r.Context().Err() != nil:
		e.Status = StatusAborted
		aerr = &apiError{status: http.StatusBadGateway, typ: "aborted", msg: "the request was cancelled"}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		e.Status = StatusTimeout
		aerr = &apiError{status: http.StatusGatewayTimeout, typ: "upstream_timeout",
			msg: fmt.Sprintf("upstream %s did not answer within %s", up, p.timeout(c))}
	case sent:
		e.Status = StatusAborted
		aerr = &apiError{status: http.StatusBadGateway, typ: "upstream_error", msg: fmt.Sprintf("upstream %s %s", up, what)}
	default:
		e.Status = StatusUpstreamError
		aerr = &apiError{status: http.StatusBadGateway, typ: "upstream_error", msg: fmt.Sprintf("upstream %s could not be reached", up)}
	}
	if sent {
		c.charge(e, u)
	}
	return aerr
}

// answer is the body the run gets: the upstream's reply as is, or in
// Ridges' forms the assistant's content (a JSON string for /agents, an
// object with content and tool_calls for /api), or {"embedding": [...]}.
func (c *call) answer(body []byte, upstream string) ([]byte, *apiError) {
	if c.form == formOpenAI {
		return body, nil
	}
	bad := &apiError{status: http.StatusBadGateway, typ: "upstream_error", msg: fmt.Sprintf("upstream %s sent a reply the proxy could not read", upstream)}
	if c.kind == KindEmbedding {
		var er struct {
			Data []struct {
				Embedding json.RawMessage `json:"embedding"`
			} `json:"data"`
		}
		if json.Unmarshal(body, &er) != nil || len(er.Data) == 0 || kindOf(er.Data[0].Embedding) != '[' {
			return nil, bad
		}
		return encodeJSON(map[string]json.RawMessage{"embedding": er.Data[0].Embedding}), nil
	}
	var cc struct {
		Choices []struct {
			Message struct {
				Content   *string `json:"content"`
				ToolCalls []struct {
					Function struct {
						Name      string `json:"name"`
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
	if json.Unmarshal(body, &cc) != nil || len(cc.Choices) == 0 {
		return nil, bad
	}
	msg := cc.Choices[0].Message
	content := ""
	if msg.Content != nil {
		content = *msg.Content
	}
	if c.form == formAgents {
		return encodeJSON(content), nil
	}
	// Ridges' tool calls: arguments as a list of name/value pairs, in the
	// order the model wrote them.
	calls := []ridgesToolCall{}
	for _, tc := range msg.ToolCalls {
		calls = append(calls, ridgesToolCall{Name: tc.Function.Name, Arguments: ridgesArgs(tc.Function.Arguments)})
	}
	return encodeJSON(struct {
		Content   string           `json:"content"`
		ToolCalls []ridgesToolCall `json:"tool_calls"`
	}{content, calls}), nil
}

// ridgesToolCall is a tool call in Ridges' gateway form.
type ridgesToolCall struct {
	Name      string      `json:"name"`
	Arguments []ridgesArg `json:"arguments"`
}

type ridgesArg struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// ridgesArgs lists the members of the JSON object s, in order; arguments
// that are not a JSON object are none, as in Ridges' gateway.
func ridgesArgs(s string) []ridgesArg {
	out := []ridgesArg{}
	dec := json.NewDecoder(strings.NewReader(s))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return out
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return []ridgesArg{}
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return []ridgesArg{}
		}
		out = append(out, ridgesArg{k, v})
	}
	return out
}

func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// upstreamMessage is a short, printable summary of an upstream's error
// body: its error.message when it sent OpenAI's shape, else its text.
func upstreamMessage(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 8<<10))
	var oe struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &oe) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(oe.Error, &inner) == nil && inner.Message != "":
			msg = inner.Message
		case json.Unmarshal(oe.Error, &s) == nil && s != "":
			msg = s
		case oe.Message != "":
			msg = oe.Message
		}
	}
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, msg)
	if msg == "" {
		return "no message"
	}
	return clip.String(msg, 200)
}

// maxSSELine bounds one line of an upstream stream.
const maxSSELine = 1 << 20

// stream relays an upstream SSE stream event by event, flushing each, and
// charges the usage of its final chunk. The proxy always asks for that
// chunk; a run that did not ask for it does not get it, since clients
// that did not ask may not expect a chunk with no choices.
func (p *Proxy) stream(ctx context.Context, w http.ResponseWriter, r *http.Request, resp *http.Response, rs *runState, c *call, e *Entry) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	br := bufio.NewReaderSize(resp.Body, 32<<10)
	var (
		event   bytes.Buffer // the lines of the event being read
		line    []byte
		drop    bool // the event is the usage chunk the run did not ask for
		done    bool // [DONE] was seen
		gone    bool // the run stopped reading
		total   int64
		readErr error
		u       = noUsage
	)
	emit := func() {
		if event.Len() > 0 && !drop && !gone {
			event.WriteByte('\n')
			if _, err := w.Write(event.Bytes()); err != nil {
				gone = true
			} else if err := rc.Flush(); err != nil {
				gone = true
			}
		}
		event.Reset()
		drop = false
	}
	for !gone {
		line, readErr = readLine(br, line[:0])
		total += int64(len(line))
		if total > p.cfg.MaxResponse {
			readErr = errTooLarge
			break
		}
		if t := bytes.TrimRight(line, "\r\n"); len(t) == 0 {
			if len(line) > 0 {
				emit() // a blank line ends an event
			}
		} else {
			if data, ok := sseData(t); ok {
				if string(data) == "[DONE]" {
					done = true
				} else if bytes.Contains(data, []byte(`"usage"`)) {
					var chunk struct {
						Usage   *usageJSON        `json:"usage"`
						Choices []json.RawMessage `json:"choices"`
					}
					if json.Unmarshal(data, &chunk) == nil && chunk.Usage != nil {
						if cu := chunk.Usage.usage(); cu.prompt >= 0 || cu.completion >= 0 {
							u = cu // providers that repeat usage send it cumulatively
						}
						drop = len(chunk.Choices) == 0 && !c.clientUsage
					}
				}
			}
			event.Write(t)
			event.WriteByte('\n')
		}
		if readErr != nil {
			break
		}
	}
	// Returning closes the upstream body (forward defers it): if the run
	// stopped reading, that stops the generation we would keep paying for.
	emit()
	switch {
	case u.prompt >= 0 && u.completion >= 0:
		c.charge(e, u) // the final usage chunk arrived: exact
	case done && readErr == io.EOF:
		c.charge(e, u) // a clean stream without usage: estimated, StatusNoUsage
	default:
		what := "stream broke off"
		if readErr == errTooLarge {
			what = fmt.Sprintf("stream is larger than %d bytes", p.cfg.MaxResponse)
		}
		aerr := p.failed(ctx, r, e, c, true, u, what)
		if !gone {
			// Headers are out; say what happened in the stream itself.
			fmt.Fprintf(w, "data: %s\n\n", encodeJSON(aerr.body()))
			rc.Flush()
		}
	}
	p.settle(rs, e, c)
	if e.Estimated {
		p.log.Warn("upstream stream lacked usage; charged the conservative estimate", "run", rs.id, "model", c.route.Name,
			"status", e.Status, "prompt_tokens", e.PromptTokens, "completion_tokens", e.CompletionTokens, "cost", e.Cost.String())
	}
}

// timeout is the deadline of one call to c's upstream.
func (p *Proxy) timeout(c *call) time.Duration {
	if c.route.up.Timeout > 0 {
		return c.route.up.Timeout
	}
	return p.cfg.Timeout
}

// readLine appends one line (with its newline, if any) to buf; a line
// longer than maxSSELine is an error rather than unbounded memory.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > maxSSELine {
			return buf, errTooLarge
		}
		buf = append(buf, frag...)
		if err != bufio.ErrBufferFull {
			return buf, err
		}
	}
}

// sseData returns the payload of a "data:" line.
func sseData(line []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok {
		return nil, false
	}
	return bytes.TrimPrefix(rest, []byte(" ")), true
}
