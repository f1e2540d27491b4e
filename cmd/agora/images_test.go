package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora/internal/ocitest"
)

// TestImagesCommand pulls a layout image, lists it and collects it.
func TestImagesCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	img := ocitest.Image(t, ocitest.FilesLayer(t, ocitest.File{Path: "testbed/", Dir: true}, ocitest.File{Path: "testbed/a", Body: "a"}))
	dir := ocitest.WriteLayout(t, img, "v1")
	store := filepath.Join(t.TempDir(), "store")
	run := func(args ...string) string {
		var out, errb bytes.Buffer
		c := &ImagesCommand{Stdout: &out, Stderr: &errb}
		if err := c.Run(context.Background(), append([]string{args[0], "--store", store}, args[1:]...)); err != nil {
			t.Fatalf("images %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	if out := run("pull", "oci:"+dir+":v1"); !strings.Contains(out, "1 layers") {
		t.Errorf("pull: %q", out)
	}
	if out := run("ls"); !strings.Contains(out, "oci:"+dir+":v1") {
		t.Errorf("ls: %q", out)
	}
	if out := run("gc", "--budget", "0"); !strings.Contains(out, "1 layers and 1 images removed") {
		t.Errorf("gc: %q", out)
	}
	var errb bytes.Buffer
	err := (&ImagesCommand{Stdout: &errb, Stderr: &errb}).Run(context.Background(), []string{"gc", "--store", store})
	if err == nil || !strings.Contains(err.Error(), "--budget is required") {
		t.Errorf("gc without budget: %v", err)
	}
}
