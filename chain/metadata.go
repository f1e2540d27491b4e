package chain

import (
	"context"
	"errors"
	"fmt"
)

// metadataMagic is "meta" as a little-endian u32, the prefix of
// RuntimeMetadataPrefixed.
var metadataMagic = []byte("meta")

// ErrMetadataVersion is wrapped for metadata versions MetadataExtensions
// cannot read.
var ErrMetadataVersion = errors.New("unsupported metadata version")

// MetadataExtensions returns the transaction-extension (signed extension)
// identifiers, in order, from SCALE-encoded runtime metadata as
// state_getMetadata returns it ("meta" magic, version byte, then the
// metadata). Versions 14 and 15 are read; the type registry and pallets
// are walked only to reach the extrinsic section, nothing else is kept.
// Like the other decoders it is safe on hostile input.
func MetadataExtensions(md []byte) ([]string, error) {
	d := NewDecoder(md)
	if magic := d.Take(4); d.Err() == nil && string(magic) != string(metadataMagic) {
		return nil, fmt.Errorf("metadata: missing the \"meta\" magic (got %x)", magic)
	}
	version := d.U8()
	if d.Err() != nil {
		return nil, fmt.Errorf("metadata: %w", d.Err())
	}
	if version != 14 && version != 15 {
		return nil, fmt.Errorf("metadata v%d: %w (want 14 or 15)", version, ErrMetadataVersion)
	}
	skipTypeRegistry(d)
	skipPallets(d, version)
	if version == 14 {
		d.Compact() // extrinsic type
		d.U8()      // extrinsic version
	} else {
		d.U8() // extrinsic version
		for range 4 {
			d.Compact() // address, call, signature and extra types
		}
	}
	n := d.VecLen(3) // identifier (≥1), ty (≥1), additional_signed (≥1)
	names := make([]string, 0, n)
	for range n {
		names = append(names, string(d.Bytes()))
		d.Compact()
		d.Compact()
		if d.Err() != nil {
			break
		}
	}
	if version == 14 {
		// V14 ends with the runtime type; checking that nothing follows
		// catches a layout we misread. V15 goes on (runtime APIs, outer
		// enums, custom values), which we do not walk.
		d.Compact()
		d.Finish()
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("metadata v%d: %w", version, d.Err())
	}
	return names, nil
}

// skip helpers for the parts of the metadata we walk past. Each loop stops
// at the first error: VecLen then returns 0, but an outer loop would still
// spin through its count.

func skipStrings(d *Decoder) {
	for n := d.VecLen(1); n > 0 && d.Err() == nil; n-- {
		d.Bytes()
	}
}

func skipOption(d *Decoder, some func(*Decoder)) {
	switch d.U8() {
	case 0:
	case 1:
		some(d)
	default:
		d.Fail(fmt.Errorf("%w: Option tag is not 0 or 1", ErrInvalidValue))
	}
}

func skipString(d *Decoder)  { d.Bytes() }
func skipCompact(d *Decoder) { d.Compact() }

// skipFields skips Vec<Field>: name Option<String>, ty, type_name
// Option<String>, docs.
func skipFields(d *Decoder) {
	for n := d.VecLen(4); n > 0 && d.Err() == nil; n-- {
		skipOption(d, skipString)
		d.Compact()
		skipOption(d, skipString)
		skipStrings(d)
	}
}

// skipTypeRegistry skips scale-info's PortableRegistry.
func skipTypeRegistry(d *Decoder) {
	for n := d.VecLen(5); n > 0 && d.Err() == nil; n-- {
		d.Compact()    // id
		skipStrings(d) // path
		for p := d.VecLen(2); p > 0 && d.Err() == nil; p-- {
			skipString(d) // param name
			skipOption(d, skipCompact)
		}
		switch def := d.U8(); def {
		case 0: // Composite
			skipFields(d)
		case 1: // Variant
			for v := d.VecLen(4); v > 0 && d.Err() == nil; v-- {
				skipString(d)
				skipFields(d)
				d.U8() // index
				skipStrings(d)
			}
		case 2, 6: // Sequence, Compact
			d.Compact()
		case 3: // Array
			d.U32()
			d.Compact()
		case 4: // Tuple
			for f := d.VecLen(1); f > 0 && d.Err() == nil; f-- {
				d.Compact()
			}
		case 5: // Primitive
			d.U8()
		case 7: // BitSequence
			d.Compact()
			d.Compact()
		default:
			if d.Err() == nil {
				d.Fail(fmt.Errorf("%w: type definition variant %d", ErrInvalidValue, def))
			}
		}
		skipStrings(d) // docs
	}
}

// skipPallets skips Vec<PalletMetadata> (v15 adds docs to each pallet).
func skipPallets(d *Decoder, version uint8) {
	for n := d.VecLen(7); n > 0 && d.Err() == nil; n-- {
		skipString(d)                    // name
		skipOption(d, func(d *Decoder) { // storage
			skipString(d) // prefix
			for e := d.VecLen(5); e > 0 && d.Err() == nil; e-- {
				skipString(d) // name
				d.U8()        // modifier
				switch d.U8() {
				case 0: // Plain
					d.Compact()
				case 1: // Map
					d.Take(d.VecLen(1)) // hashers, one byte each
					d.Compact()
					d.Compact()
				default:
					d.Fail(fmt.Errorf("%w: storage entry type", ErrInvalidValue))
				}
				d.Bytes() // default
				skipStrings(d)
			}
		})
		skipOption(d, skipCompact) // calls
		skipOption(d, skipCompact) // event
		for c := d.VecLen(4); c > 0 && d.Err() == nil; c-- {
			skipString(d)
			d.Compact()
			d.Bytes()
			skipStrings(d)
		}
		skipOption(d, skipCompact) // error
		d.U8()                     // index
		if version >= 15 {
			skipStrings(d)
		}
	}
}

// Metadata returns the node's SCALE-encoded runtime metadata
// (state_getMetadata).
func (c *RPCClient) Metadata(ctx context.Context) ([]byte, error) {
	raw, err := c.rpc.call(ctx, "state_getMetadata", "state_getMetadata")
	if err != nil {
		return nil, err
	}
	b, ok, err := hexResult("state_getMetadata", raw)
	if err == nil && !ok {
		err = errors.New("chain: state_getMetadata: null result")
	}
	return b, err
}

// UseMetadataExtensions reads the transaction-extension list from the
// node's metadata and signs with it from now on, using the built-in
// encoders and Options.ExtraExtensions. If the runtime lists an extension
// we have no encoder for, it returns an *UnsupportedExtensionsError naming
// it and leaves the client's list unchanged: signing without it would only
// produce transactions the node rejects. It returns the identifiers read.
func (c *RPCClient) UseMetadataExtensions(ctx context.Context) ([]string, error) {
	md, err := c.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	names, err := MetadataExtensions(md)
	if err != nil {
		return nil, fmt.Errorf("chain: state_getMetadata: %w", err)
	}
	exts, err := ExtensionsFor(names, c.opts.ExtraExtensions...)
	if err != nil {
		return names, err
	}
	c.SetExtensions(exts)
	return names, nil
}
