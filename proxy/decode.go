package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"unicode/utf8"

	"github.com/agoranet/agora/internal/clip"
)

// Request bodies come from untrusted agents. The parsers below accept a
// known set of fields, check the types of the ones the proxy acts on, and
// re-encode the body the upstream sees, so what is forwarded is exactly
// what was checked: a duplicated key or odd casing cannot make the proxy
// and the upstream read different values.

// chatFields are the chat-completion fields forwarded upstream. Anything
// else is refused, because some fields change what a call costs in ways
// the price table does not cover (service_tier, audio, web_search_options)
// or keep data at the provider (store, metadata).
var chatFields = fieldSet(
	"messages", "model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "n",
	"temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty",
	"stop", "seed", "logit_bias", "logprobs", "top_logprobs", "response_format",
	"tools", "tool_choice", "parallel_tool_calls", "functions", "function_call", "user", "reasoning_effort",
)

// embeddingFields are the embedding fields forwarded upstream.
var embeddingFields = fieldSet("input", "model", "encoding_format", "dimensions", "user")

func fieldSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// maxModelName bounds a model name; longer ones are not models.
const maxModelName = 256

// chatRequest is a checked chat-completion request.
type chatRequest struct {
	fields      map[string]json.RawMessage // forwarded, after the proxy's edits
	model       string
	stream      bool
	clientUsage bool  // the run asked for the usage chunk itself
	maxTokens   int64 // the completion cap the run sent; 0 if it sent none
	messages    int   // how many messages
	remote      []remoteRef
	runID       string
	// bareContent: a Ridges body that names its run by run_id alone was
	// written for Ridges' first gateway (October 2025), which answered
	// /api/inference with the content as a JSON string; the later one
	// takes evaluation_run_id and answers {"content", "tool_calls"}.
	bareContent bool
}

// embeddingRequest is a checked embedding request.
type embeddingRequest struct {
	fields map[string]json.RawMessage
	model  string
	runID  string
	ridges bool // answer with the bare vector
}

// badRequest is a 400 naming the field at fault.
func badRequest(param, format string, args ...any) *apiError {
	msg := fmt.Sprintf(format, args...)
	if param != "" {
		msg = param + ": " + msg
	}
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", msg: msg, param: param}
}

// decodeObject decodes a JSON object into its raw fields.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, badRequest("body", "a JSON object is required")
	}
	if trimmed[0] != '{' {
		return nil, badRequest("body", "expected a JSON object")
	}
	if !utf8.Valid(body) {
		// JSON is UTF-8. An upstream would replace each stray byte with
		// U+FFFD, three bytes, and the prompt bound reads one.
		return nil, badRequest("body", "not valid UTF-8")
	}
	var obj map[string]json.RawMessage
	if err := decodeStrict(body, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// decodeStrict decodes one JSON value into v, refusing trailing data, and
// turns decoder errors into 400s that name the field.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return badRequest(te.Field, "expected %s, got JSON %s", jsonType(te.Type.Kind().String()), te.Value)
		case errors.As(err, &te):
			return badRequest("body", "expected a JSON object, got JSON %s", te.Value)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			return badRequest("body", "invalid JSON: it ends in the middle of a value")
		case errors.As(err, &se):
			return badRequest("body", "invalid JSON at byte %d", se.Offset)
		}
		return badRequest("body", "invalid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("body", "unexpected data after the JSON object")
	}
	return nil
}

// jsonType names a Go kind the way a JSON user thinks of it.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "a boolean"
	case "float64", "float32", "int", "int64", "int32":
		return "a number"
	}
	return kind
}

// checkFields refuses any field not in allowed, naming the first in order.
func checkFields(obj map[string]json.RawMessage, allowed, extra map[string]bool) error {
	var bad []string
	for k := range obj {
		if !allowed[k] && !extra[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return badRequest(clip.String(bad[0], 64), "field not allowed by the proxy")
}

// stringField reads a required or optional string field.
func stringField(obj map[string]json.RawMessage, name string, required bool) (string, error) {
	raw, ok := obj[name]
	if !ok || isNull(raw) {
		if required {
			return "", badRequest(name, "required")
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badRequest(name, "expected a string")
	}
	if required && s == "" {
		return "", badRequest(name, "required")
	}
	return s, nil
}

// modelField reads the model name.
func modelField(obj map[string]json.RawMessage) (string, error) {
	m, err := stringField(obj, "model", true)
	if err == nil && len(m) > maxModelName {
		err = badRequest("model", "longer than %d bytes", maxModelName)
	}
	return m, err
}

// boolField reads an optional boolean.
func boolField(obj map[string]json.RawMessage, name string) (bool, error) {
	raw, ok := obj[name]
	if !ok || isNull(raw) {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, badRequest(name, "expected a boolean")
	}
	return b, nil
}

// intField reads an optional positive integer.
func intField(obj map[string]json.RawMessage, name string) (int64, bool, error) {
	raw, ok := obj[name]
	if !ok || isNull(raw) {
		return 0, false, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil || n < 1 {
		return 0, false, badRequest(name, "expected a positive integer")
	}
	return n, true, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// kindOf is the first byte of a raw JSON value: '[' array, '{' object,
// '"' string.
func kindOf(raw json.RawMessage) byte {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return 0
	}
	return t[0]
}

func rawJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// parseChat checks an OpenAI chat-completion body and applies the proxy's
// policy: n at most 1, and on a stream the usage chunk always requested so
// the call can be charged. The completion cap the run sent, if any, is
// read but left for capOutput; the proxy adds none of its own, since some
// models refuse max_tokens. The messages are re-encoded from what was
// checked, and every URL in their content parts is collected in remote for
// the proxy's URL policy.
func parseChat(body []byte, extra map[string]bool) (*chatRequest, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if err := checkFields(obj, chatFields, extra); err != nil {
		return nil, err
	}
	c := &chatRequest{fields: obj}
	if c.model, err = modelField(obj); err != nil {
		return nil, err
	}
	switch msgs := obj["messages"]; {
	case msgs == nil:
		return nil, badRequest("messages", "required")
	case kindOf(msgs) != '[':
		return nil, badRequest("messages", "expected an array")
	case string(bytes.Join(bytes.Fields(msgs), nil)) == "[]":
		return nil, badRequest("messages", "at least one message is required")
	}
	var cw contentWalk
	if obj["messages"], err = cw.value(obj["messages"], "messages", "", false); err != nil {
		return nil, err
	}
	c.messages, c.remote = cw.messages, cw.refs
	if n, ok, err := intField(obj, "n"); err != nil {
		return nil, err
	} else if ok && n != 1 {
		// n completions cost n times the completion cap; the reservation
		// assumes one.
		return nil, badRequest("n", "at most 1 completion per call")
	}
	if c.stream, err = boolField(obj, "stream"); err != nil {
		return nil, err
	}
	if so, ok := obj["stream_options"]; ok && !isNull(so) {
		var opts map[string]json.RawMessage
		if kindOf(so) != '{' || json.Unmarshal(so, &opts) != nil {
			return nil, badRequest("stream_options", "expected an object")
		}
		if c.clientUsage, err = boolField(opts, "include_usage"); err != nil {
			return nil, badRequest("stream_options.include_usage", "expected a boolean")
		}
	}
	delete(obj, "stream_options")
	if c.stream {
		obj["stream_options"] = json.RawMessage(`{"include_usage":true}`)
	}
	for _, name := range outputCapFields {
		n, ok, err := intField(obj, name)
		if err != nil {
			return nil, err
		}
		if ok && (c.maxTokens == 0 || n < c.maxTokens) {
			c.maxTokens = n
		}
	}
	return c, nil
}

// outputCapFields are the fields that cap a completion: newer OpenAI
// models take max_completion_tokens and refuse max_tokens, others take
// only max_tokens.
var outputCapFields = []string{"max_tokens", "max_completion_tokens"}

// capOutput holds the call to at most limit completion tokens and returns
// the cap the upstream works under: each cap field the run sent is
// lowered to limit, and a run that sent none gets none added (some models
// refuse max_tokens): the upstream's own cap for the model, which limit
// must cover, applies.
func (c *chatRequest) capOutput(limit int64) int64 {
	if c.maxTokens == 0 {
		return limit
	}
	for _, name := range outputCapFields {
		if n, ok, _ := intField(c.fields, name); ok && n > limit {
			c.fields[name] = rawJSON(limit)
		}
	}
	c.maxTokens = min(c.maxTokens, limit)
	return c.maxTokens
}

// parseEmbedding checks an OpenAI embedding body. The input is text or
// token ids only: a string, or an array of strings, of token ids, or of
// arrays of token ids. Objects (the image inputs of multimodal embedding
// APIs, which may name URLs) are refused.
func parseEmbedding(body []byte, extra map[string]bool) (*embeddingRequest, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if err := checkFields(obj, embeddingFields, extra); err != nil {
		return nil, err
	}
	e := &embeddingRequest{fields: obj}
	if e.model, err = modelField(obj); err != nil {
		return nil, err
	}
	switch in := obj["input"]; {
	case in == nil || isNull(in):
		return nil, badRequest("input", "required")
	case kindOf(in) != '"' && kindOf(in) != '[':
		return nil, badRequest("input", "expected a string or an array")
	case string(bytes.Join(bytes.Fields(in), nil)) == "[]":
		return nil, badRequest("input", "at least one input is required")
	case kindOf(in) == '[':
		if err := checkEmbeddingInputs(in); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// checkEmbeddingInputs checks an input array: strings, token ids, or
// arrays of token ids.
func checkEmbeddingInputs(in json.RawMessage) error {
	var items []json.RawMessage
	if err := json.Unmarshal(in, &items); err != nil {
		return badRequest("input", "expected an array")
	}
	for i, it := range items {
		switch kindOf(it) {
		case '"':
		case '[':
			var ids []int64
			if json.Unmarshal(it, &ids) != nil {
				return badRequest(fmt.Sprintf("input[%d]", i), "expected a string or an array of token ids")
			}
		default:
			var id int64
			if json.Unmarshal(it, &id) != nil {
				return badRequest(fmt.Sprintf("input[%d]", i), "expected a string, a token id or an array of token ids")
			}
		}
	}
	return nil
}

// ridgesInference is the body of Ridges' POST /agents/inference (2025:
// run_id, model, temperature, messages) and of its inference gateway's
// POST /api/inference (evaluation_run_id, and tools with tool_mode).
// Either run id field names the run.
type ridgesInference struct {
	RunID           string          `json:"run_id"`
	EvaluationRunID string          `json:"evaluation_run_id"`
	Model           string          `json:"model"`
	Temperature     *float64        `json:"temperature"`
	Messages        []ridgesMessage `json:"messages"`
	ToolMode        string          `json:"tool_mode"`
	Tools           []ridgesTool    `json:"tools"`
}

type ridgesMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ridgesTool is a tool in Ridges' gateway form: parameters are a list,
// not a JSON schema.
type ridgesTool struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Parameters  []ridgesToolParam `json:"parameters"`
}

type ridgesToolParam struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Required    bool   `json:"required"`
}

// ridgesRunID is the run a Ridges body names: run_id or
// evaluation_run_id, which must agree when both are set.
func ridgesRunID(runID, evalRunID string) (string, error) {
	switch {
	case runID == "":
		return evalRunID, nil
	case evalRunID != "" && evalRunID != runID:
		return "", badRequest("evaluation_run_id", "does not match run_id")
	}
	return runID, nil
}

// openAITools translates Ridges' tools into OpenAI's function tools.
func openAITools(tools []ridgesTool) (json.RawMessage, error) {
	type schema struct {
		Type       string                       `json:"type"`
		Properties map[string]map[string]string `json:"properties"`
		Required   []string                     `json:"required"`
	}
	type function struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Parameters  schema `json:"parameters"`
	}
	type tool struct {
		Type     string   `json:"type"`
		Function function `json:"function"`
	}
	out := make([]tool, 0, len(tools))
	for i, t := range tools {
		if t.Name == "" {
			return nil, badRequest(fmt.Sprintf("tools[%d].name", i), "required")
		}
		sc := schema{Type: "object", Properties: map[string]map[string]string{}, Required: []string{}}
		for j, p := range t.Parameters {
			switch p.Type {
			case "boolean", "integer", "number", "string", "array", "object":
			default:
				return nil, badRequest(fmt.Sprintf("tools[%d].parameters[%d].type", i, j), "%q is not a JSON schema type", clip.String(p.Type, 32))
			}
			sc.Properties[p.Name] = map[string]string{"type": p.Type, "description": p.Description}
			if p.Required {
				sc.Required = append(sc.Required, p.Name)
			}
		}
		out = append(out, tool{Type: "function", Function: function{Name: t.Name, Description: t.Description, Parameters: sc}})
	}
	return rawJSON(out), nil
}

// parseRidgesInference checks a Ridges inference body and builds the chat
// request it stands for. defaultModel is used when the body names none.
// The form has no completion cap, and the proxy adds none.
func parseRidgesInference(body []byte, defaultModel string) (*chatRequest, error) {
	if _, err := decodeObject(body); err != nil {
		return nil, err
	}
	var in ridgesInference
	if err := decodeStrict(body, &in); err != nil {
		return nil, err
	}
	if in.Model == "" {
		in.Model = defaultModel
	}
	switch {
	case in.Model == "":
		return nil, badRequest("model", "required")
	case len(in.Model) > maxModelName:
		return nil, badRequest("model", "longer than %d bytes", maxModelName)
	case len(in.Messages) == 0:
		return nil, badRequest("messages", "at least one message is required")
	}
	for i, m := range in.Messages {
		if m.Role == "" {
			return nil, badRequest(fmt.Sprintf("messages[%d].role", i), "required")
		}
	}
	runID, err := ridgesRunID(in.RunID, in.EvaluationRunID)
	if err != nil {
		return nil, err
	}
	obj := map[string]json.RawMessage{
		"model":    rawJSON(in.Model),
		"messages": rawJSON(in.Messages),
		"stream":   json.RawMessage("false"),
	}
	if in.Temperature != nil {
		obj["temperature"] = rawJSON(*in.Temperature)
	}
	switch in.ToolMode {
	case "", "none", "auto", "required":
	default:
		return nil, badRequest("tool_mode", "%q is not none, auto or required", clip.String(in.ToolMode, 32))
	}
	if len(in.Tools) > 0 && in.ToolMode != "none" {
		if obj["tools"], err = openAITools(in.Tools); err != nil {
			return nil, err
		}
		mode := in.ToolMode
		if mode == "" {
			mode = "auto"
		}
		obj["tool_choice"] = rawJSON(mode)
	}
	return &chatRequest{fields: obj, model: in.Model, messages: len(in.Messages), runID: runID,
		bareContent: in.EvaluationRunID == ""}, nil
}

// ridgesEmbedding is the body of Ridges' POST /agents/embedding and POST
// /api/embedding. The text is "input", or "text" as Ridges' base miner
// sent it; the model is optional (the proxy's embedding model).
type ridgesEmbedding struct {
	RunID           string  `json:"run_id"`
	EvaluationRunID string  `json:"evaluation_run_id"`
	Model           string  `json:"model"`
	Input           *string `json:"input"`
	Text            *string `json:"text"`
}

// parseRidgesEmbedding checks a Ridges embedding body; model is used when
// the body names none.
func parseRidgesEmbedding(body []byte, model string) (*embeddingRequest, error) {
	if _, err := decodeObject(body); err != nil {
		return nil, err
	}
	var in ridgesEmbedding
	if err := decodeStrict(body, &in); err != nil {
		return nil, err
	}
	text := in.Input
	switch {
	case text == nil:
		text = in.Text
	case in.Text != nil && *in.Text != *text:
		return nil, badRequest("text", "differs from input; send one of them")
	}
	if text == nil || *text == "" {
		return nil, badRequest("input", "required (or text)")
	}
	if in.Model != "" {
		model = in.Model
	}
	switch {
	case model == "":
		return nil, badRequest("model", "required: this proxy has no default embedding model")
	case len(model) > maxModelName:
		return nil, badRequest("model", "longer than %d bytes", maxModelName)
	}
	runID, err := ridgesRunID(in.RunID, in.EvaluationRunID)
	if err != nil {
		return nil, err
	}
	obj := map[string]json.RawMessage{"model": rawJSON(model), "input": rawJSON(*text)}
	return &embeddingRequest{fields: obj, model: model, runID: runID, ridges: true}, nil
}

// encodeFields is the body forwarded upstream. HTML escaping is off so the
// upstream sees the run's text as sent, and its length stays an upper
// bound on the prompt's tokens. Every value came out of a successful
// decode, so it does not fail (the fuzz tests hold it to that); if it did,
// the call is refused rather than the proxy brought down.
func encodeFields(obj map[string]json.RawMessage) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, fmt.Errorf("re-encoding a checked body: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
