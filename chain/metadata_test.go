package chain_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/chain/chaintest"
)

func TestMetadataExtensions(t *testing.T) {
	md := chaintest.MetadataV14(chain.SubtensorExtensionNames())
	names, err := chain.MetadataExtensions(md)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(names, chain.SubtensorExtensionNames()) {
		t.Fatalf("names %v", names)
	}
	for i := range md {
		if _, err := chain.MetadataExtensions(md[:i]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: accepted", i, len(md))
		}
	}
	bad := append([]byte("meta"), 16)
	if _, err := chain.MetadataExtensions(bad); !errors.Is(err, chain.ErrMetadataVersion) {
		t.Errorf("v16: %v", err)
	}
	if _, err := chain.MetadataExtensions([]byte("atem\x0e")); err == nil {
		t.Error("bad magic accepted")
	}
}

func TestUseMetadataExtensions(t *testing.T) {
	node, c, keys := subnet(t)
	ctx := context.Background()

	node.SetMetadata(chaintest.MetadataV14(chain.SubtensorExtensionNames()))
	names, err := c.UseMetadataExtensions(ctx)
	if err != nil || !reflect.DeepEqual(names, chain.SubtensorExtensionNames()) {
		t.Fatalf("%v, %v", names, err)
	}

	// A runtime that added an extension we cannot encode: a clear error
	// naming it, and the client keeps signing with what it had.
	withNew := append(append([]string{}, chain.SubtensorExtensionNames()...), "BrandNewExtension")
	node.SetMetadata(chaintest.MetadataV14(withNew))
	_, err = c.UseMetadataExtensions(ctx)
	var ue *chain.UnsupportedExtensionsError
	if !errors.As(err, &ue) || !reflect.DeepEqual(ue.Unknown, []string{"BrandNewExtension"}) ||
		!strings.Contains(err.Error(), "no encoder for transaction extension(s) BrandNewExtension") {
		t.Fatalf("%v", err)
	}
	if got := chain.ExtensionNames(c.Extensions()); !reflect.DeepEqual(got, chain.SubtensorExtensionNames()) {
		t.Fatalf("extensions changed to %v", got)
	}

	// Supplying an encoder (here: zero-sized) makes it usable, and
	// transactions signed with the new list are accepted.
	c2, err := chain.New(node.URL(), chain.Options{ExtraExtensions: []chain.Extension{{Name: "BrandNewExtension"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.UseMetadataExtensions(ctx); err != nil {
		t.Fatal(err)
	}
	if got := chain.ExtensionNames(c2.Extensions()); !reflect.DeepEqual(got, withNew) {
		t.Fatalf("extensions %v", got)
	}
	if _, err := c2.CommitWeights(ctx, keys["Alice"], 1, [32]byte{1}); err != nil {
		t.Fatal(err)
	}

	node.FailMethod("state_getMetadata", -32000, "nope", nil)
	if _, err := c.UseMetadataExtensions(ctx); err == nil || !strings.Contains(err.Error(), "state_getMetadata") {
		t.Fatalf("%v", err)
	}
}

func FuzzMetadataExtensions(f *testing.F) {
	f.Add(chaintest.MetadataV14(chain.SubtensorExtensionNames()))
	f.Add(chaintest.MetadataV14(nil))
	f.Add([]byte("meta\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		chain.MetadataExtensions(b) // must not panic or hang
	})
}
