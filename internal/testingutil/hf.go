package testingutil

import "testing"

// IsolateHFCache points every variable that places a Hugging Face cache
// away from the real caches, and HOME at a fresh directory, which it
// returns: the default hub cache is then HOME/.cache/huggingface/hub.
func IsolateHFCache(t *testing.T) string {
	home := t.TempDir()
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HF_DATASETS_CACHE"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", home)
	return home
}
