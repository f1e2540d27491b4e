package sandbox

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/agoranet/agora"
)

func TestZZDumpBundle(t *testing.T) {
	r, err := New(Config{StateDir: "/tmp/exp/state"})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := buildSpec(specInput{
		Run:    &agora.RunSpec{Args: []string{"/bin/true"}, Mounts: []agora.Mount{{Source: "/tmp/exp/repo", Target: "/repo"}}},
		Limits: agora.Limits{Memory: 256 << 20, Pids: 64, CPUs: 1, Timeout: 10 * time.Second}.WithDefaults(), Rootfs: r.rootfs, HostDirs: r.hostDirs,
		UID: r.uid, GID: r.gid, CgroupsPath: "agora-exp", Swap: r.swap, Hostname: "sandbox",
	})
	os.MkdirAll("/tmp/exp/bundle", 0o700)
	os.MkdirAll("/tmp/exp/repo", 0o755)
	data, _ := json.MarshalIndent(s, "", " ")
	os.WriteFile("/tmp/exp/bundle/config.json", data, 0o600)
}
