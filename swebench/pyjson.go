package swebench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// pythonJSON re-emits the JSON document data byte for byte as Python's
// json.dumps(obj, indent=indent) writes it: members in the order given,
// ",\n" between items, ": " after keys, "[]" and "{}" for empty containers,
// and ensure_ascii string escaping (every character outside printable ASCII
// as \uXXXX with lower-case hex, astral characters as surrogate pairs).
// Go's encoder differs on all the string points (it writes UTF-8 and escapes
// <, > and &), so files meant to be identical to SWE-bench's go through here.
// Numbers are copied as written; the reports hold integers only.
func pythonJSON(data []byte, indent int) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var b bytes.Buffer
	if err := pyValue(dec, &b, indent, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("pythonJSON: trailing data")
	}
	return b.Bytes(), nil
}

func pyValue(dec *json.Decoder, b *bytes.Buffer, indent, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		closing := byte(']')
		if t == '{' {
			closing = '}'
		}
		if !dec.More() {
			if _, err := dec.Token(); err != nil {
				return err
			}
			b.WriteByte(byte(t))
			b.WriteByte(closing)
			return nil
		}
		b.WriteByte(byte(t))
		for first := true; dec.More(); first = false {
			if !first {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
			pyIndent(b, indent, depth+1)
			if t == '{' {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				pyString(b, key.(string))
				b.WriteString(": ")
			}
			if err := pyValue(dec, b, indent, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		b.WriteByte('\n')
		pyIndent(b, indent, depth)
		b.WriteByte(closing)
	case string:
		pyString(b, t)
	case json.Number:
		b.WriteString(t.String())
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case nil:
		b.WriteString("null")
	}
	return nil
}

func pyIndent(b *bytes.Buffer, indent, depth int) {
	for i := 0; i < indent*depth; i++ {
		b.WriteByte(' ')
	}
}

// pyString writes s as Python's json module does with ensure_ascii=True.
// Invalid UTF-8 cannot reach here from encoding/json (it substitutes
// U+FFFD), and is written as U+FFFD if it does.
func pyString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	u := func(r rune) {
		b.WriteString(`\u`)
		b.WriteByte(hex[r>>12&0xf])
		b.WriteByte(hex[r>>8&0xf])
		b.WriteByte(hex[r>>4&0xf])
		b.WriteByte(hex[r&0xf])
	}
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x20 && r <= 0x7e:
			b.WriteByte(byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			u(r1)
			u(r2)
		case r == utf8.RuneError:
			u(0xfffd)
		default:
			u(r)
		}
	}
	b.WriteByte('"')
}

// pythonRepr returns Python's repr() of the JSON document data once decoded
// by json.loads: dicts and lists on one line ("{'k': [1, 2]}"), True,
// False and None, and strings quoted as Python quotes them.
func pythonRepr(data []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var b bytes.Buffer
	if err := reprValue(dec, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

func reprValue(dec *json.Decoder, b *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		closing := byte(']')
		if t == '{' {
			closing = '}'
		}
		b.WriteByte(byte(t))
		for first := true; dec.More(); first = false {
			if !first {
				b.WriteString(", ")
			}
			if t == '{' {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				reprString(b, key.(string))
				b.WriteString(": ")
			}
			if err := reprValue(dec, b); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		b.WriteByte(closing)
	case string:
		reprString(b, t)
	case json.Number:
		b.WriteString(t.String())
	case bool:
		if t {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case nil:
		b.WriteString("None")
	}
	return nil
}

// reprString writes Python's repr() of s: single quotes unless s holds a
// single quote and no double quote; backslash, the quote, \t \n \r and
// other control characters escaped; printable characters as they are.
func reprString(b *bytes.Buffer, s string) {
	quote := '\''
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	b.WriteRune(quote)
	for _, r := range s {
		switch {
		case r == quote || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		case r < 0x7f || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			fmt.Fprintf(b, `\U%08x`, r)
		}
	}
	b.WriteRune(quote)
}
