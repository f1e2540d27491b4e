package oci_test

import (
	"strings"
	"testing"

	"github.com/agoranet/agora/oci"
)

func TestParseReference(t *testing.T) {
	cases := []struct {
		in, kind, name, path, canon string
	}{
		{"swebench/sweb.eval.x86_64.psf_1776_requests-6028:latest", oci.KindRegistry, "index.docker.io/swebench/sweb.eval.x86_64.psf_1776_requests-6028:latest", "", "index.docker.io/swebench/sweb.eval.x86_64.psf_1776_requests-6028:latest"},
		{"docker://127.0.0.1:5000/a/b:t", oci.KindRegistry, "127.0.0.1:5000/a/b:t", "", "127.0.0.1:5000/a/b:t"},
		{"oci:/srv/layout:v1", oci.KindLayout, "v1", "/srv/layout", "oci:/srv/layout:v1"},
		{"oci:/srv/layout", oci.KindLayout, "", "/srv/layout", "oci:/srv/layout"},
		{"docker-archive:/tmp/x.tar:example.com/a:b", oci.KindArchive, "example.com/a:b", "/tmp/x.tar", "docker-archive:/tmp/x.tar:example.com/a:b"},
	}
	for _, tc := range cases {
		r, err := oci.ParseReference(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if r.Kind != tc.kind || r.Name != tc.name || r.Path != tc.path || r.String() != tc.canon {
			t.Errorf("%s = %+v (%s)", tc.in, r, r)
		}
	}
	for _, bad := range []string{"", "oci:", "docker-archive::x", "UPPER/case:1", "a b"} {
		if _, err := oci.ParseReference(bad); err == nil {
			t.Errorf("ParseReference(%q) accepted", bad)
		}
	}
}

func TestExpandTemplate(t *testing.T) {
	got, err := oci.ExpandTemplate("docker.io/swebench/sweb.eval.x86_64.{instance_id_docker}:latest", "Psf__Requests-6028", "")
	if err != nil || got != "docker.io/swebench/sweb.eval.x86_64.psf_1776_requests-6028:latest" {
		t.Errorf("got %q, %v", got, err)
	}
	if got, _ := oci.ExpandTemplate("{image}", "a__b-1", "swebench/x:latest"); got != "swebench/x:latest" {
		t.Errorf("{image}: %q", got)
	}
	if _, err := oci.ExpandTemplate("{image}", "a__b-1", ""); err == nil {
		t.Error("{image} without a dataset image accepted")
	}
	if _, err := oci.ExpandTemplate("x/{instance}", "a__b-1", ""); err == nil || !strings.Contains(err.Error(), "{instance}") {
		t.Errorf("unknown placeholder: %v", err)
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"a/b:c", "docker://h:1/x@sha256:" + strings.Repeat("a", 64), "oci:/d:t", "docker-archive:f:r/s:t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := oci.ParseReference(s)
		if err != nil {
			return
		}
		// The canonical form parses back to the same reference.
		again, err := oci.ParseReference(r.String())
		if err != nil || again != r {
			t.Fatalf("%q -> %q -> %+v, %v", s, r.String(), again, err)
		}
	})
}
