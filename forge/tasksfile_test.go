package forge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTasksFileResumes: tasks already in the file become known (a resumed
// run does not make them again), appends are whole lines, and a last line
// torn by a crash is refused rather than appended to.
func TestTasksFileResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.jsonl")
	known := NewKnown()
	f, err := OpenTasksFile(path, known)
	if err != nil {
		t.Fatal(err)
	}
	a := task("a")
	if err := f.Append(a); err != nil {
		t.Fatal(err)
	}
	f.Close()

	known = NewKnown()
	f, err = OpenTasksFile(path, known)
	if err != nil {
		t.Fatal(err)
	}
	if id, dup := known.Duplicate(task("a")); !dup || id != "a" {
		t.Fatalf("task in the file not known on resume: %q %v", id, dup)
	}
	if err := f.Append(task("b")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	data, _ := os.ReadFile(path)
	if lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "{") {
		t.Fatalf("file %q", data)
	}

	os.WriteFile(path, append(data, []byte(`{"instance_id": "c", "re`)...), 0o644)
	if _, err := OpenTasksFile(path, NewKnown()); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("torn last line: %v", err)
	}
}
