package swebench

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agoranet/agora"
)

// Model names of the built-in prediction sets.
const (
	ModelGold  = "gold"
	ModelEmpty = "empty"
)

// Prediction is one line of a SWE-bench predictions file.
type Prediction struct {
	// InstanceID names the instance the patch is for.
	InstanceID string `json:"instance_id"`
	// ModelNameOrPath names the model; with "/" replaced by "__" it is a
	// directory of the run's logs and the prefix of the run report's name.
	ModelNameOrPath string `json:"model_name_or_path"`
	// ModelPatch is the unified diff to evaluate. nil stands for JSON null
	// (or a missing member); SWE-bench treats nil and "" alike as an empty
	// patch, which is not run, but reports nil as patch_is_None.
	ModelPatch *string `json:"model_patch"`
}

// IsEmpty reports whether the prediction has no patch to run: SWE-bench
// counts such an instance in empty_patch_ids and never evaluates it.
func (p Prediction) IsEmpty() bool { return p.ModelPatch == nil || *p.ModelPatch == "" }

// ModelDir returns the model's directory name in the run's logs: the model
// name with every "/" replaced by "__", as SWE-bench does.
func ModelDir(model string) string { return strings.ReplaceAll(model, "/", "__") }

// CheckModelName reports whether model can name a log directory once "/" is
// replaced by "__": it must be valid UTF-8 without control characters, not
// empty, "." or "..", and at most 200 bytes so that the run report's file
// name stays within the usual 255-byte limit.
func CheckModelName(model string) error {
	dir := ModelDir(model)
	switch {
	case model == "":
		return agora.Errorf(agora.EINVALID, "empty model name")
	case dir == "." || dir == "..":
		return agora.Errorf(agora.EINVALID, "model name %s is not usable as a directory name", strconv.Quote(model))
	case len(dir) > 200:
		return agora.Errorf(agora.EINVALID, "model name longer than 200 bytes")
	case !utf8.ValidString(model) || hasControl(model):
		return agora.Errorf(agora.EINVALID, "model name %s has control characters or invalid UTF-8", strconv.Quote(model))
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

// LoadPredictions reads a predictions file: a JSON list, a JSON object
// keyed by instance id (SWE-agent's preds.json; the values are used and each
// must repeat its key as instance_id), or JSONL. The form is decided as in
// LoadInstances.
//
// The returned error is for the file as a whole. A malformed prediction (not
// an object, no instance_id, no model_name_or_path, a model_patch that is
// neither a string nor null) is an ItemError and is skipped. Duplicate ids
// are not checked here; MatchPredictions refuses them.
func LoadPredictions(path string) ([]Prediction, []ItemError, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, nil, err
	}
	return ParsePredictions(path, data)
}

// ParsePredictions is LoadPredictions on data already in memory; name is
// used in messages and its extension as a tie-breaker for the file's form.
func ParsePredictions(name string, data []byte) ([]Prediction, []ItemError, error) {
	items, err := splitItems(name, data)
	if err != nil {
		return nil, nil, err
	}
	var out []Prediction
	var bad []ItemError
	for _, it := range items {
		if it.err != nil {
			bad = append(bad, ItemError{File: name, Item: it.item, Err: it.err})
			continue
		}
		p, field, err := decodePrediction(it.data)
		if err == nil && it.keyd && p.InstanceID != it.key {
			field, err = "instance_id", agora.Errorf(agora.EINVALID, "%s differs from its key", strconv.Quote(p.InstanceID))
		}
		if err != nil {
			id := p.InstanceID
			if CheckInstanceID(id) != nil {
				id = ""
			}
			bad = append(bad, ItemError{File: name, Item: it.item, Field: field, InstanceID: id, Err: err})
			continue
		}
		out = append(out, p)
	}
	return out, bad, nil
}

// decodePrediction decodes one prediction and returns the first field at
// fault. Unknown members are ignored, as SWE-bench ignores them.
func decodePrediction(data []byte) (Prediction, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return Prediction{}, "", agora.Errorf(agora.EINVALID, "not a JSON object")
	}
	var p Prediction
	raw, ok := m["instance_id"]
	if !ok || isNull(raw) {
		return p, "instance_id", agora.Errorf(agora.EINVALID, "missing")
	}
	if json.Unmarshal(raw, &p.InstanceID) != nil {
		return p, "instance_id", agora.Errorf(agora.EINVALID, "must be a string")
	}
	if err := CheckInstanceID(p.InstanceID); err != nil {
		return p, "instance_id", err
	}
	raw, ok = m["model_name_or_path"]
	if !ok || isNull(raw) {
		return p, "model_name_or_path", agora.Errorf(agora.EINVALID, "missing")
	}
	if json.Unmarshal(raw, &p.ModelNameOrPath) != nil {
		return p, "model_name_or_path", agora.Errorf(agora.EINVALID, "must be a string")
	}
	if err := CheckModelName(p.ModelNameOrPath); err != nil {
		return p, "model_name_or_path", err
	}
	if raw, ok = m["model_patch"]; ok && !isNull(raw) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return p, "model_patch", agora.Errorf(agora.EINVALID, "must be a string or null")
		}
		p.ModelPatch = &s
	}
	return p, "", nil
}

// GoldPredictions returns one prediction per instance whose patch is the
// instance's gold patch, with model name "gold", as SWE-bench's
// `--predictions_path gold` does.
func GoldPredictions(instances []Instance) []Prediction {
	out := make([]Prediction, len(instances))
	for i, in := range instances {
		patch := in.Patch
		out[i] = Prediction{InstanceID: in.InstanceID, ModelNameOrPath: ModelGold, ModelPatch: &patch}
	}
	return out
}

// EmptyPredictions returns one prediction per instance with an empty patch
// and model name "empty". Note that SWE-bench does not run an empty patch:
// it only counts it. An evaluator that wants the "test patch only" baseline
// must run these instances itself rather than rely on SWE-bench's rules.
func EmptyPredictions(instances []Instance) []Prediction {
	out := make([]Prediction, len(instances))
	for i, in := range instances {
		empty := ""
		out[i] = Prediction{InstanceID: in.InstanceID, ModelNameOrPath: ModelEmpty, ModelPatch: &empty}
	}
	return out
}

// MatchPredictions keys predictions by instance id and checks them against
// the dataset. A prediction for an instance not in instances is an ItemError
// naming the id; it is dropped and the rest go on. (SWE-bench stops the
// whole run there; a per-item error lets one stray line not void a
// submission.) Two or more predictions for one id are an error for the
// whole set, since no rule says which one to grade: the returned error, with
// code agora.EINVALID, names the ids, and the map is nil.
func MatchPredictions(instances []Instance, preds []Prediction) (map[string]Prediction, []ItemError, error) {
	count := make(map[string]int, len(preds))
	for _, p := range preds {
		count[p.InstanceID]++
	}
	var dups []string
	for id, n := range count {
		if n > 1 {
			dups = append(dups, id)
		}
	}
	if len(dups) > 0 {
		sort.Strings(dups)
		quoted := make([]string, 0, len(dups))
		for i, id := range dups {
			if i == 10 {
				quoted = append(quoted, "…")
				break
			}
			quoted = append(quoted, strconv.Quote(id))
		}
		return nil, nil, agora.Errorf(agora.EINVALID, "%d instance ids have more than one prediction: %s", len(dups), strings.Join(quoted, ", "))
	}
	known := make(map[string]bool, len(instances))
	for _, in := range instances {
		known[in.InstanceID] = true
	}
	out := make(map[string]Prediction, len(preds))
	var bad []ItemError
	for _, p := range preds {
		if !known[p.InstanceID] {
			bad = append(bad, ItemError{
				Field:      "instance_id",
				InstanceID: p.InstanceID,
				Err:        agora.Errorf(agora.ENOTFOUND, "no instance %s in the dataset", strconv.Quote(p.InstanceID)),
			})
			continue
		}
		out[p.InstanceID] = p
	}
	return out, bad, nil
}
