package agent

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"strings"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/clip"
)

// Runner is runner.py, the program a validator runs in the sandbox:
//
//	AGENT_TIMEOUT=600 python3 runner.py AGENT_FILE INPUT_JSON OUTPUT_JSON
//
// It imports the agent, calls agent_main(input) and writes {"patch": str}
// or {"error": {kind, message, traceback}} to OUTPUT_JSON (read it with
// ParseRunOutput). It exits 0 whenever it wrote the output, 1 when it
// could not, and 2, writing nothing, for bad arguments or an unreadable
// INPUT_JSON, which are the validator's fault. The agent runs in the
// same process and can forge the output file; that is accepted, since the
// patch is the agent's claim anyway and is graded on its own. The runner's
// alarm is a backstop that turns an over-time agent into a "timeout"
// report; the sandbox's deadline is the real limit.
//
//go:embed runner.py
var Runner []byte

// Caps of ParseRunOutput.
const (
	// MaxOutputBytes bounds the whole output document.
	MaxOutputBytes = 16 << 20
	// MaxPatchBytes bounds the patch; tasks usually cap it far lower.
	MaxPatchBytes = 4 << 20
	// MaxErrorMessage and MaxErrorTraceback bound a RunError's texts
	// (the runner caps them too, but the file may be forged).
	MaxErrorMessage   = 4 << 10
	MaxErrorTraceback = 16 << 10
)

// RunError is an agent run that produced no patch, as the runner saw it.
// Kind is agora.AgentCrash, AgentTimeout or AgentMalformed.
type RunError struct {
	Kind      string `json:"kind"`
	Message   string `json:"message"`
	Traceback string `json:"traceback,omitempty"`
}

// Error implements error.
func (e *RunError) Error() string { return "agent " + e.Kind + ": " + e.Message }

// ParseRunOutput reads the runner's OUTPUT_JSON. It returns the patch on
// success, a *RunError when the agent failed, or an EUNPROCESSABLE error
// when data is not a runner document at all: over MaxOutputBytes, not a
// JSON object, with neither or both of "patch" and "error", a non-string
// patch, or an unknown error kind. Since the agent can write this file,
// callers should blame the agent for such an error unless the sandbox
// itself failed. Texts in a RunError are capped and made valid UTF-8.
func ParseRunOutput(data []byte) (patch string, runErr *RunError, err error) {
	bad := func(format string, args ...any) (string, *RunError, error) {
		return "", nil, agora.Errorf(agora.EUNPROCESSABLE, "agent output: "+format, args...)
	}
	if len(data) > MaxOutputBytes {
		return bad("%d bytes, over %d", len(data), MaxOutputBytes)
	}
	var doc struct {
		Patch *json.RawMessage `json:"patch"`
		Error *json.RawMessage `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return bad("not a JSON object: %v", err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return bad("trailing data after the JSON object")
	}
	switch {
	case doc.Patch != nil && doc.Error != nil:
		return bad(`both "patch" and "error"`)
	case doc.Patch != nil:
		var p string
		if err := json.Unmarshal(*doc.Patch, &p); err != nil {
			return bad(`"patch" is not a string`)
		}
		if len(p) > MaxPatchBytes {
			return "", &RunError{Kind: agora.AgentMalformed, Message: "patch is over the runner's size cap"}, nil
		}
		return p, nil, nil
	case doc.Error != nil:
		var e struct {
			Kind      string `json:"kind"`
			Message   string `json:"message"`
			Traceback string `json:"traceback"`
		}
		if err := json.Unmarshal(*doc.Error, &e); err != nil {
			return bad(`"error" is not an object of strings: %v`, err)
		}
		switch e.Kind {
		case agora.AgentCrash, agora.AgentTimeout, agora.AgentMalformed:
		default:
			return bad("unknown error kind %q", capText(e.Kind, 64, false))
		}
		return "", &RunError{Kind: e.Kind, Message: capText(e.Message, MaxErrorMessage, false), Traceback: capText(e.Traceback, MaxErrorTraceback, true)}, nil
	}
	return bad(`neither "patch" nor "error"`)
}

// capText keeps at most max bytes of s, from the end when tail is set (a
// traceback's end says what went wrong), and replaces invalid UTF-8.
func capText(s string, max int, tail bool) string {
	if tail {
		s = clip.Tail(s, max)
	} else {
		s = clip.String(s, max)
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
