package harness_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/ocitest"
	"github.com/agoranet/agora/oci"
	"github.com/agoranet/agora/repocache"
	"github.com/agoranet/agora/sandbox"
	"github.com/agoranet/agora/swebench"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

const (
	sharedInstances = "/work/shared/swebench/instances.jsonl"
	mirrors         = "/work/.mirror"
	condaEnv        = "/opt/miniconda3/envs/testbed"
)

// TestImageParityShared grades the shared SWE-bench instances' gold
// patches twice, in host mode and in locally built SWE-bench-style images
// served from an OCI layout, and compares every report.json. The images
// are built here: the host's system files as one shared layer, the conda
// convention, the repository at /testbed at its base commit, and the
// environment spec's setup run inside the image as a RUN step would
// (venvs at /opt/miniconda3/envs/testbed). Skips without the mirrors.
// Runs with AGORA_PARITY=1; AGORA_PARITY_IDS picks a comma-separated
// subset.
func TestImageParityShared(t *testing.T) {
	if _, err := os.Stat(sharedInstances); err != nil {
		t.Skip("no shared instances")
	}
	if _, err := os.Stat(filepath.Join(mirrors, "psf+requests")); err != nil {
		t.Skip("no mirrors")
	}
	if os.Getenv("AGORA_PARITY") == "" {
		// It builds 13 images of about 2 GB and grades everything twice:
		// 20-40 minutes, too long for every test run.
		t.Skip("set AGORA_PARITY=1 to build the shared instances' images and compare")
	}
	insts, _, err := swebench.LoadInstances(sharedInstances)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	if s := os.Getenv("AGORA_PARITY_IDS"); s != "" {
		ids = strings.Split(s, ",")
	}
	ev := MustEvaluator(t, mirrors)
	ev.Checkouts = &repocache.Cache{Dir: filepath.Join(ev.CacheDir, "repos"), Source: filepath.Join(mirrors, "{owner}+{name}", "repo"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID}
	specs, err := harness.LoadEnvSpecs(nil)
	if err != nil {
		t.Fatal(err)
	}

	// Build the images into one layout; the system and conda layers are
	// shared by all of them.
	lay := filepath.Join(t.TempDir(), "layout")
	lp, err := layout.Write(lay, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	system := ocitest.HostSystemLayer(t)
	conda := ocitest.CondaLayer(t, "/usr/bin/python3")
	var base []string // the system and conda layers, unpacked for RUN steps
	var wanted []swebench.Instance
	for _, inst := range insts {
		if len(ids) > 0 && !contains(ids, inst.InstanceID) {
			continue
		}
		wanted = append(wanted, inst)
	}
	for _, inst := range wanted {
		env, err := specs.Find(inst.Repo, inst.Version)
		if err != nil {
			t.Fatal(err)
		}
		checkout, err := ev.Checkouts.Checkout(context.Background(), inst.Repo, inst.BaseCommit)
		if err != nil {
			t.Fatal(err)
		}
		testbed := ocitest.DirLayer(t, filepath.Join(checkout, "repo"), "testbed")
		layers := []v1.Layer{system, conda, testbed}
		if len(env.Setup) > 0 {
			if base == nil {
				base = buildBase(t, system, conda)
			}
			layers = append(layers, runLayer(t, ev.Sandbox, base, testbed, setupInImage(env)))
		}
		img := ocitest.Image(t, layers...)
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": oci.DockerName(inst.InstanceID)})); err != nil {
			t.Fatal(err)
		}
	}

	instances := filepath.Join(t.TempDir(), "instances.jsonl")
	var lines []string
	data, _ := os.ReadFile(sharedInstances)
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		for _, inst := range wanted {
			if strings.Contains(l, `"instance_id": "`+inst.InstanceID+`"`) {
				lines = append(lines, l)
			}
		}
	}
	os.WriteFile(instances, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	run := func(image string) string {
		out := t.TempDir()
		b := &harness.Batch{Instances: instances, Predictions: "gold", ReportDir: out, RunID: "parity", Workers: 2, Image: image}
		plan, err := b.Plan()
		if err != nil {
			t.Fatal(err)
		}
		e := MustEvaluator(t, mirrors)
		e.Checkouts = ev.Checkouts
		if image != "" {
			e.Images = harness.OCIImages{Store: &oci.Store{Root: filepath.Join(t.TempDir(), "images"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID}}
			e.ImageTemplate = image
		}
		b.Evaluate(context.Background(), e, plan)
		return out
	}
	imageRef := "oci:" + lay + ":{instance_id_docker}"
	if os.Getenv("AGORA_PARITY_TIMING") != "" {
		parityTiming(t, wanted, lines, imageRef, ev.Checkouts)
		return
	}
	var hostOut, imageOut string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); hostOut = run("") }()
	imageOut = run(imageRef)
	wg.Wait()
	for _, inst := range wanted {
		rel := swebench.InstanceLogDir("parity", "gold", inst.InstanceID)
		h, herr := os.ReadFile(filepath.Join(hostOut, rel, "report.json"))
		i, ierr := os.ReadFile(filepath.Join(imageOut, rel, "report.json"))
		if herr != nil || ierr != nil || string(h) != string(i) {
			detail, _ := os.ReadFile(filepath.Join(imageOut, rel, "agora.json"))
			log, _ := os.ReadFile(filepath.Join(imageOut, rel, "test_output.txt"))
			t.Errorf("%s: report.json differs (host err %v, image err %v)\nhost  %s\nimage %s\nimage agora.json %s\nimage log tail:\n%s",
				inst.InstanceID, herr, ierr, h, i, detail, tail(log))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// setupInImage is env's setup as a RUN step of the image: its venv at the
// conda environment's place, the repository at /testbed, and a pytest
// that runs the venv's.
func setupInImage(env *harness.Env) string {
	venv := false
	for _, c := range env.Setup {
		venv = venv || strings.Contains(c, "/env/venv")
	}
	var b strings.Builder
	b.WriteString("set -eux\n")
	if venv {
		// The venv replaces the conda layer's environment.
		b.WriteString("rm -rf " + condaEnv + "\n")
	}
	b.WriteString("cd /testbed\n")
	for _, c := range env.Setup {
		b.WriteString(strings.ReplaceAll(c, "/env/venv", condaEnv) + "\n")
	}
	if venv {
		b.WriteString("[ -e " + condaEnv + "/bin/pytest ] || printf '#!/bin/sh\\nexec " + condaEnv + "/bin/python -m pytest \"$@\"\\n' > " + condaEnv + "/bin/pytest\nchmod 755 " + condaEnv + "/bin/pytest\n")
	}
	return b.String()
}

// buildBase unpacks the shared bottom layers once for the RUN steps.
func buildBase(t *testing.T, layers ...v1.Layer) []string {
	t.Helper()
	var dirs []string
	for _, l := range layers {
		dirs = append([]string{unpackLayer(t, l)}, dirs...)
	}
	return dirs
}

// unpackLayer unpacks l into a new directory.
func unpackLayer(t *testing.T, l v1.Layer) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layer")
	os.Mkdir(dir, 0o755)
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := oci.Unpack(rc, dir, oci.UnpackOptions{UID: sandbox.DefaultUID, GID: sandbox.DefaultGID}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runLayer runs script in the image made of base (lower directories,
// topmost first) and top, as `docker build` runs a RUN step, and returns
// what it wrote as a layer: the overlay's upper directory, its whiteouts
// and opaque directories turned back into OCI's .wh. entries.
func runLayer(t *testing.T, sb agora.Sandbox, base []string, top v1.Layer, script string) v1.Layer {
	t.Helper()
	upper := filepath.Join(t.TempDir(), "upper")
	lowers := append([]string{unpackLayer(t, top)}, base...)
	// The setup's compat shim goes to /env/compat (on the environment's
	// PYTHONPATH in both modes), so /env is made in the top lower layer,
	// the sandbox user's; the venv itself goes to the conda environment's
	// place (setupInImage).
	envDir := filepath.Join(lowers[0], "env")
	if err := os.Mkdir(envDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(envDir, sandbox.DefaultUID, sandbox.DefaultGID); err != nil {
		t.Fatal(err)
	}
	ws, err := sb.NewWorkspace(context.Background(), agora.WorkspaceSpec{Layers: lowers, Upper: upper})
	if err != nil {
		t.Fatal(err)
	}
	root := ws.Root()
	var mounts []agora.Mount
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		switch e.Name() {
		case "proc", "dev", "sys", "tmp", "run":
			continue
		}
		if e.IsDir() {
			mounts = append(mounts, agora.Mount{Source: filepath.Join(root, e.Name()), Target: "/" + e.Name()})
		}
	}
	res, err := sb.Run(context.Background(), &agora.RunSpec{
		Name: "build", Args: []string{"/bin/bash", "-c", script}, Rootfs: root, Mounts: mounts, Dir: "/testbed",
		Env:    []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"},
		Limits: agora.Limits{Timeout: 10 * 60e9},
	})
	ws.Close()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("RUN step: %v\n%s", err, res.Output)
	}
	return upperLayer(t, upper)
}

// upperLayer tars an overlay upper directory as an OCI layer.
func upperLayer(t *testing.T, upper string) v1.Layer {
	t.Helper()
	p := filepath.Join(t.TempDir(), "upper.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(upper, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(upper, path)
		if rel == "." {
			return nil
		}
		top, _, _ := strings.Cut(rel, "/")
		switch top {
		case "proc", "dev", "sys", "tmp", "run", "agora":
			return nil // the sandbox's mount points
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			return tw.WriteHeader(&tar.Header{Name: filepath.Join(filepath.Dir(rel), ".wh."+filepath.Base(rel)), Typeflag: tar.TypeReg, Mode: 0o644})
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			link, _ = os.Readlink(path)
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name, h.Uid, h.Gid, h.Uname, h.Gname = rel, 0, 0, "", ""
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.IsDir() {
			buf := make([]byte, 4)
			if n, _ := unix.Lgetxattr(path, "trusted.overlay.opaque", buf); n > 0 && string(buf[:n]) == "y" {
				return tw.WriteHeader(&tar.Header{Name: rel + "/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644})
			}
			return nil
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// parityTiming is TestImageParityShared's benchmark mode
// (AGORA_PARITY_TIMING=1): each instance alone, one worker, host and image
// interleaved (host, image, host, image) so that a change in the machine's
// load hits both modes alike; the second run of each is the one reported,
// when the checkout, environment layer and image layers are cached as on a
// validator that has graded before. It prints grading time (prepare and
// test steps), wall time and CPU time (the sandboxes' rusage) side by side.
func parityTiming(t *testing.T, wanted []swebench.Instance, lines []string, imageRef string, checkouts harness.Checkouts) {
	store := &oci.Store{Root: filepath.Join(t.TempDir(), "images"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID}
	// One evaluator per mode for the whole run, as `agora eval` keeps its
	// cache directory: environment layers and image layers are built or
	// pulled once.
	evs := map[bool]*harness.Evaluator{}
	for _, img := range []bool{false, true} {
		e := MustEvaluator(t, mirrors)
		e.Checkouts = checkouts
		if img {
			e.Images = harness.OCIImages{Store: store}
			e.ImageTemplate = imageRef
		}
		evs[img] = e
	}
	reports := map[bool][]byte{}
	once := func(inst swebench.Instance, line, image string) measure {
		dir := t.TempDir()
		instances := filepath.Join(dir, "instances.jsonl")
		os.WriteFile(instances, []byte(line+"\n"), 0o644)
		b := &harness.Batch{Instances: instances, Predictions: "gold", ReportDir: dir, RunID: "timing", Workers: 1, Image: image}
		plan, err := b.Plan()
		if err != nil {
			t.Fatal(err)
		}
		e := evs[image != ""]
		var before, after unix.Rusage
		unix.Getrusage(unix.RUSAGE_CHILDREN, &before)
		start := time.Now()
		b.Evaluate(context.Background(), e, plan)
		wall := time.Since(start).Seconds()
		unix.Getrusage(unix.RUSAGE_CHILDREN, &after)
		cpu := float64(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) / 1e9
		logDir := filepath.Join(dir, swebench.InstanceLogDir("timing", "gold", inst.InstanceID))
		reports[image != ""], _ = os.ReadFile(filepath.Join(logDir, "report.json"))
		var d harness.InstanceDetail
		data, err := os.ReadFile(filepath.Join(logDir, "agora.json"))
		if err != nil || json.Unmarshal(data, &d) != nil || d.TimingsMS == nil {
			t.Fatalf("%s: no timings in agora.json: %v", inst.InstanceID, err)
		}
		tm := d.TimingsMS
		t.Logf("%s image=%v: checkout %dms environment %dms prepare %dms test %dms total %dms; wall %.1fs cpu %.1fs",
			inst.InstanceID, image != "", tm.Checkout, tm.Environment, tm.Prepare, tm.Test, tm.Total, wall, cpu)
		return measure{grade: float64(tm.Prepare+tm.Test) / 1000, test: float64(tm.Test) / 1000, wall: wall, cpu: cpu}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "%-28s %9s %9s %6s   %8s %8s %6s   %8s %8s %6s   %8s %8s %6s\n", "instance", "grade-h", "grade-i", "i/h", "test-h", "test-i", "i/h", "wall-h", "wall-i", "i/h", "cpu-h", "cpu-i", "i/h")
	var sum [2]measure
	for _, inst := range wanted {
		var line string
		for _, l := range lines {
			if strings.Contains(l, `"instance_id": "`+inst.InstanceID+`"`) {
				line = l
			}
		}
		var m [2]measure
		for pass := 0; pass < 2; pass++ {
			m[0] = once(inst, line, "")
			m[1] = once(inst, line, imageRef)
		}
		if h, i := reports[false], reports[true]; len(h) == 0 || string(h) != string(i) {
			t.Errorf("%s: report.json differs\nhost  %s\nimage %s", inst.InstanceID, h, i)
		}
		for i := range sum {
			sum[i].grade += m[i].grade
			sum[i].test += m[i].test
			sum[i].wall += m[i].wall
			sum[i].cpu += m[i].cpu
		}
		row(&out, inst.InstanceID, m)
	}
	row(&out, "total", sum)
	t.Log("\n" + out.String())
}

// measure is one graded run's times, in seconds.
type measure struct {
	grade, test, wall, cpu float64
}

// row prints host (m[0]) and image (m[1]) side by side with their ratios.
func row(w io.Writer, name string, m [2]measure) {
	fmt.Fprintf(w, "%-28s %8.1fs %8.1fs %6.2f   %7.1fs %7.1fs %6.2f   %7.1fs %7.1fs %6.2f   %7.1fs %7.1fs %6.2f\n", name,
		m[0].grade, m[1].grade, m[1].grade/m[0].grade, m[0].test, m[1].test, m[1].test/m[0].test,
		m[0].wall, m[1].wall, m[1].wall/m[0].wall, m[0].cpu, m[1].cpu, m[1].cpu/m[0].cpu)
}
