package forge

import (
	"errors"
	"fmt"
	"os"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/swebench"
)

// TasksFile appends tasks to a JSONL file one whole line per write, synced,
// so a cut-off run leaves every task it reported and no partial line.
type TasksFile struct{ f *os.File }

// OpenTasksFile opens path for appending, after reading the tasks already in
// it into known (a resumed run skips them). A last line without a newline,
// left by a crash mid-write, is refused rather than appended to.
func OpenTasksFile(path string, known *Known) (*TasksFile, error) {
	if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
		if data[len(data)-1] != '\n' {
			return nil, agora.Errorf(agora.EINVALID, "forge: %s: its last line is incomplete; remove it and rerun", path)
		}
		insts, errs, err := swebench.ParseInstances(path, data)
		if err != nil {
			return nil, agora.Errorf(agora.EINVALID, "forge: %s: %v", path, err)
		}
		if len(errs) > 0 {
			return nil, agora.Errorf(agora.EINVALID, "forge: %s: %v", path, errs[0])
		}
		known.Add(insts...)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, agora.Errorf(agora.EINVALID, "forge: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, agora.Errorf(agora.EINVALID, "forge: %v", err)
	}
	return &TasksFile{f}, nil
}

// Append writes inst as one line and syncs it.
func (t *TasksFile) Append(inst *swebench.Instance) error {
	line, err := inst.MarshalJSON()
	if err != nil {
		return err
	}
	if _, err := t.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("forge: writing %s: %w", inst.InstanceID, err)
	}
	return t.f.Sync()
}

// Close closes the file.
func (t *TasksFile) Close() error { return t.f.Close() }
