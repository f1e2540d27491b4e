package swebench_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/swebench"
)

func strp(s string) *string { return &s }

func TestLoadPredictionsForms(t *testing.T) {
	want := []swebench.Prediction{
		{InstanceID: "psf__requests-6028", ModelNameOrPath: "org/model-v1", ModelPatch: strp("diff --git a/x b/x\n")},
		{InstanceID: "pallets__flask-5014", ModelNameOrPath: "org/model-v1"},
	}
	for _, name := range []string{"list.json", "keyed.json", "lines.jsonl"} {
		t.Run(name+"/loads_both_predictions", func(t *testing.T) {
			got, bad, err := swebench.LoadPredictions(filepath.Join("testdata", "preds", name))
			if err != nil || len(bad) != 0 {
				t.Fatalf("LoadPredictions: %v, %v", err, bad)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v", got)
			}
			if got[0].IsEmpty() || !got[1].IsEmpty() {
				t.Error("IsEmpty is wrong")
			}
		})
	}
}

func TestLoadPredictionsReportsAndSkipsMalformedItems(t *testing.T) {
	const path = "testdata/preds/malformed.jsonl"
	got, bad, err := swebench.LoadPredictions(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []swebench.Prediction{
		{InstanceID: "psf__requests-6028", ModelNameOrPath: "org/model-v1", ModelPatch: strp("diff --git a/x b/x\n")},
		{InstanceID: "x__y-4", ModelNameOrPath: "m"}, // a missing model_patch is null
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("good predictions = %+v", got)
	}
	type item struct{ item, field, id string }
	wantBad := []item{
		{"line 2", "instance_id", ""},
		{"line 3", "model_name_or_path", "x__y-1"},
		{"line 4", "model_patch", "x__y-2"},
		{"line 5", "model_name_or_path", "x__y-3"},
		{"line 6", "instance_id", ""},
		{"line 8", "", ""},
	}
	var gotBad []item
	for _, e := range bad {
		gotBad = append(gotBad, item{e.Item, e.Field, e.InstanceID})
		if e.File != path || agora.ErrorCode(&e) != agora.EINVALID {
			t.Errorf("%v: file %q code %q", &e, e.File, agora.ErrorCode(&e))
		}
	}
	if !reflect.DeepEqual(gotBad, wantBad) {
		t.Errorf("item errors = %+v\nwant %+v", gotBad, wantBad)
	}
}

func TestLoadPredictionsKeyMustMatchInstanceID(t *testing.T) {
	data := `{"a__b-1": {"instance_id": "a__b-2", "model_name_or_path": "m", "model_patch": "x"}}`
	got, bad, err := swebench.ParsePredictions("preds.json", []byte(data))
	if err != nil || len(got) != 0 || len(bad) != 1 || bad[0].Item != `key "a__b-1"` || bad[0].Field != "instance_id" {
		t.Errorf("ParsePredictions = %v, %v, %v", got, bad, err)
	}
}

func TestGoldAndEmptyPredictions(t *testing.T) {
	in, _, err := swebench.LoadInstances("testdata/instances.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	gold := swebench.GoldPredictions(in)
	empty := swebench.EmptyPredictions(in)
	if len(gold) != len(in) || len(empty) != len(in) {
		t.Fatalf("%d gold, %d empty for %d instances", len(gold), len(empty), len(in))
	}
	for i := range in {
		if gold[i].InstanceID != in[i].InstanceID || gold[i].ModelNameOrPath != "gold" || gold[i].ModelPatch == nil || *gold[i].ModelPatch != in[i].Patch {
			t.Errorf("gold[%d] = %+v", i, gold[i])
		}
		if empty[i].InstanceID != in[i].InstanceID || empty[i].ModelNameOrPath != "empty" || empty[i].ModelPatch == nil || *empty[i].ModelPatch != "" {
			t.Errorf("empty[%d] = %+v", i, empty[i])
		}
	}
	// Each gold patch is its own copy, not an alias of the instance.
	*gold[0].ModelPatch = "changed"
	if in[0].Patch == "changed" {
		t.Error("gold prediction aliases the instance's patch")
	}
}

func TestMatchPredictions(t *testing.T) {
	in, _, err := swebench.LoadInstances("testdata/forms/lines.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p := func(id string) swebench.Prediction {
		return swebench.Prediction{InstanceID: id, ModelNameOrPath: "m", ModelPatch: strp("x")}
	}
	t.Run("known_predictions_are_keyed_by_id", func(t *testing.T) {
		got, bad, err := swebench.MatchPredictions(in, []swebench.Prediction{p("psf__requests-6028"), p("pallets__flask-5014")})
		if err != nil || len(bad) != 0 || len(got) != 2 || got["pallets__flask-5014"].InstanceID != "pallets__flask-5014" {
			t.Errorf("MatchPredictions = %v, %v, %v", got, bad, err)
		}
	})
	t.Run("unknown_instance_is_an_item_error_and_the_rest_goes_on", func(t *testing.T) {
		got, bad, err := swebench.MatchPredictions(in, []swebench.Prediction{p("psf__requests-6028"), p("nope__nope-1")})
		if err != nil || len(got) != 1 || len(bad) != 1 {
			t.Fatalf("MatchPredictions = %v, %v, %v", got, bad, err)
		}
		if bad[0].InstanceID != "nope__nope-1" || agora.ErrorCode(&bad[0]) != agora.ENOTFOUND || !strings.Contains(bad[0].Error(), `"nope__nope-1"`) {
			t.Errorf("item error %+v: %v", bad[0], &bad[0])
		}
	})
	t.Run("duplicate_predictions_are_an_error", func(t *testing.T) {
		got, bad, err := swebench.MatchPredictions(in, []swebench.Prediction{p("psf__requests-6028"), p("pallets__flask-5014"), p("psf__requests-6028")})
		if err == nil || got != nil || bad != nil {
			t.Fatalf("MatchPredictions = %v, %v, %v", got, bad, err)
		}
		if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(agora.ErrorMessage(err), `"psf__requests-6028"`) {
			t.Errorf("error %v", err)
		}
	})
}

func TestCheckModelName(t *testing.T) {
	for name, ok := range map[string]bool{
		"gold":                    true,
		"org/model-v1":            true,
		"claude 3.5 (2024-10-22)": true,
		"":                        false,
		".":                       false,
		"..":                      false,
		"a\nb":                    false,
		"bad\xff":                 false,
		strings.Repeat("m", 201):  false,
		strings.Repeat("a/", 60):  true, // 120 bytes become 180 with "__"
		strings.Repeat("a/", 70):  false,
	} {
		if err := swebench.CheckModelName(name); (err == nil) != ok {
			t.Errorf("CheckModelName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
	if got := swebench.ModelDir("org/sub/model"); got != "org__sub__model" {
		t.Errorf("ModelDir = %q", got)
	}
}
