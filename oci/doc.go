// Package oci brings OCI images to Agora's sandbox without a container
// daemon: it pulls an image from a registry, an OCI image-layout
// directory or a `docker save` tarball (with go-containerregistry),
// verifies every layer's digest and diffid, unpacks each layer once into a
// content-addressed store in overlayfs form, and hands the sandbox the
// layer directories to stack as an overlay's lowerdirs.
//
// Layers are unpacked defensively: no entry may leave its layer (no "..",
// no absolute path, no symlink followed in an existing path component, no
// hardlink to outside), device nodes and fifos are skipped, OCI whiteouts
// become overlayfs whiteouts (a 0/0 character device, or the
// trusted.overlay.opaque xattr), and every file belongs to the store's
// owner ids, so that the sandbox user, seeing them through the
// workspace's id mapping, owns the image as root owns it in Docker.
package oci
