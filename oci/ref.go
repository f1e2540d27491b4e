package oci

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Kinds of image source.
const (
	KindRegistry = "docker"         // a distribution registry
	KindLayout   = "oci"            // an OCI image-layout directory
	KindArchive  = "docker-archive" // a `docker save` tarball
)

// Reference says where an image comes from, in skopeo's syntax:
//
//	host/repo:tag, docker://host/repo:tag   a registry
//	oci:DIR[:TAG]                          an OCI image-layout directory
//	docker-archive:FILE[:REF]              a `docker save` tarball
type Reference struct {
	Kind string
	// Name is the registry reference (KindRegistry), or the tag or
	// reference that picks an image inside a layout or tarball ("" when
	// it holds one).
	Name string
	// Path is the layout directory or the tarball (absolute).
	Path string
}

// ParseReference parses an image reference. Errors name what is wrong.
func ParseReference(s string) (Reference, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Reference{}, fmt.Errorf("image reference: empty")
	}
	kind, rest, ok := strings.Cut(s, ":")
	switch {
	case ok && kind == KindLayout, ok && kind == KindArchive:
		p, tag := rest, ""
		// The path may not hold ':'; what follows the last one is
		// the tag or reference. A "docker-archive:FILE:host:5000/r:t"
		// reference has more colons: the first one after the path
		// ends it.
		if i := strings.Index(rest, ":"); i >= 0 {
			p, tag = rest[:i], rest[i+1:]
		}
		if p == "" {
			return Reference{}, fmt.Errorf("image reference %q: %s needs a path", s, kind)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return Reference{}, fmt.Errorf("image reference %q: %v", s, err)
		}
		if tag != "" && kind == KindArchive {
			if _, err := name.NewTag(tag); err != nil {
				return Reference{}, fmt.Errorf("image reference %q: %q is not a tag reference: %v", s, tag, err)
			}
		}
		if strings.ContainsAny(tag, " \t\n") {
			return Reference{}, fmt.Errorf("image reference %q: tag %q has blanks", s, tag)
		}
		return Reference{Kind: kind, Name: tag, Path: abs}, nil
	}
	r := strings.TrimPrefix(s, "docker://")
	ref, err := name.ParseReference(r)
	if err != nil {
		return Reference{}, fmt.Errorf("image reference %q: %v", s, err)
	}
	return Reference{Kind: KindRegistry, Name: ref.Name()}, nil
}

// String is the canonical form, the key of the image's record.
func (r Reference) String() string {
	switch r.Kind {
	case KindRegistry:
		return r.Name
	default:
		if r.Name == "" {
			return r.Kind + ":" + r.Path
		}
		return r.Kind + ":" + r.Path + ":" + r.Name
	}
}

// ExpandTemplate fills an image template for one SWE-bench instance:
// {instance_id} is the id as it is, {instance_id_docker} the id as
// SWE-bench names its published images (lowercase, "__" as "_1776_"),
// and {image} the dataset's image column (empty when the row has none:
// the template is then refused).
func ExpandTemplate(tpl, instanceID, image string) (string, error) {
	if strings.Contains(tpl, "{image}") && image == "" {
		return "", fmt.Errorf("image template %q: instance %s has no image field", tpl, instanceID)
	}
	out := strings.NewReplacer(
		"{instance_id_docker}", DockerName(instanceID),
		"{instance_id}", instanceID,
		"{image}", image,
	).Replace(tpl)
	if i := strings.IndexByte(out, '{'); i >= 0 {
		if j := strings.IndexByte(out[i:], '}'); j > 0 {
			return "", fmt.Errorf("image template %q: unknown placeholder %s (have {instance_id}, {instance_id_docker}, {image})", tpl, out[i:i+j+1])
		}
	}
	return out, nil
}

// DockerName is an instance id as SWE-bench's published images spell it:
// "__" becomes "_1776_" and the whole is lowercase (Docker repository
// names are).
func DockerName(instanceID string) string {
	return strings.ToLower(strings.ReplaceAll(instanceID, "__", "_1776_"))
}
