package chaintest

import "github.com/agoranet/agora/chain"

// MetadataV14 returns a small but well-formed RuntimeMetadataPrefixed V14
// whose extrinsic section lists extensions as its transaction extensions,
// for Node.SetMetadata. Its type registry holds one type of every
// scale-info kind and its one pallet has every optional part, so a reader
// must walk all of them to reach the extension list.
func MetadataV14(extensions []string) []byte {
	str := func(b []byte, s string) []byte { return chain.AppendBytes(b, []byte(s)) }
	strs := func(b []byte, ss ...string) []byte {
		b = chain.AppendCompact(b, uint64(len(ss)))
		for _, s := range ss {
			b = str(b, s)
		}
		return b
	}
	cpt := chain.AppendCompact
	// field: name Some, ty, type_name Some, docs
	field := func(b []byte, name string, ty uint64) []byte {
		b = str(append(b, 1), name)
		b = cpt(b, ty)
		b = str(append(b, 1), "u8")
		return strs(b, "a field")
	}

	b := []byte("meta")
	b = append(b, 14)

	// PortableRegistry: 8 types, one per TypeDef variant.
	b = cpt(b, 8)
	typ := func(b []byte, id uint64, path []string, def func([]byte) []byte) []byte {
		b = cpt(b, id)
		b = strs(b, path...)
		b = cpt(b, 1) // one type parameter: name "T", ty Some(0)
		b = str(b, "T")
		b = cpt(append(b, 1), 0)
		b = def(b)
		return strs(b, "docs", "more docs")
	}
	b = typ(b, 0, nil, func(b []byte) []byte { return append(b, 5, 2) }) // Primitive u8
	b = typ(b, 1, []string{"sp_core", "Thing"}, func(b []byte) []byte {  // Composite
		b = append(b, 0)
		b = cpt(b, 2)
		b = field(b, "a", 0)
		// a field with neither name nor type name
		b = append(b, 0)
		b = cpt(b, 0)
		b = append(b, 0)
		return strs(b)
	})
	b = typ(b, 2, []string{"Call"}, func(b []byte) []byte { // Variant
		b = append(b, 1)
		b = cpt(b, 2)
		b = str(b, "set_weights")
		b = cpt(b, 1)
		b = field(b, "netuid", 0)
		b = append(b, 0)
		b = strs(b, "doc")
		b = str(b, "other")
		b = cpt(b, 0)
		b = append(b, 96)
		return strs(b)
	})
	b = typ(b, 3, nil, func(b []byte) []byte { return cpt(append(b, 2), 0) })                      // Sequence
	b = typ(b, 4, nil, func(b []byte) []byte { return cpt(chain.AppendU32(append(b, 3), 32), 0) }) // Array
	b = typ(b, 5, nil, func(b []byte) []byte { return cpt(cpt(cpt(append(b, 4), 2), 0), 3) })      // Tuple
	b = typ(b, 6, nil, func(b []byte) []byte { return cpt(append(b, 6), 0) })                      // Compact
	b = typ(b, 7, nil, func(b []byte) []byte { return cpt(cpt(append(b, 7), 0), 1) })              // BitSequence

	// One pallet with storage (a plain and a map entry), calls, event,
	// constants and error.
	b = cpt(b, 1)
	b = str(b, "SubtensorModule")
	b = append(b, 1) // storage: Some
	b = str(b, "SubtensorModule")
	b = cpt(b, 2)
	b = str(b, "TotalStake")
	b = append(b, 1, 0)
	b = cpt(b, 0)
	b = chain.AppendBytes(b, make([]byte, 8))
	b = strs(b, "plain entry")
	b = str(b, "Tempo")
	b = append(b, 1, 1)
	b = chain.AppendBytes(b, []byte{6, 1}) // hashers: Identity, Blake2_128Concat
	b = cpt(cpt(b, 0), 0)
	b = chain.AppendBytes(b, []byte{0x68, 0x01})
	b = strs(b)
	b = cpt(append(b, 1), 2) // calls
	b = cpt(append(b, 1), 2) // event
	b = cpt(b, 1)            // constants
	b = str(b, "InitialTempo")
	b = cpt(b, 0)
	b = chain.AppendBytes(b, []byte{0x68, 0x01})
	b = strs(b, "constant")
	b = cpt(append(b, 1), 2) // error
	b = append(b, chain.SubtensorModuleIndex)

	// ExtrinsicMetadata V14: ty, version, signed extensions.
	b = cpt(b, 2)
	b = append(b, 4)
	b = cpt(b, uint64(len(extensions)))
	for _, name := range extensions {
		b = str(b, name)
		b = cpt(cpt(b, 0), 0)
	}
	return cpt(b, 1) // the runtime type
}
