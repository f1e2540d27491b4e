package proxy

import (
	"strings"
	"testing"
)

// BenchmarkParseChat measures decoding a chat body, walking its messages
// for remote URLs and re-encoding it: the per-byte part of the proxy's
// cost, which grows with the prompt.
func BenchmarkParseChat(b *testing.B) {
	b.Run("small", func(b *testing.B) { benchParseChat(b, 1, 16) })
	b.Run("text-100KB", func(b *testing.B) { benchParseChat(b, 1, 100<<10) })
	b.Run("20-messages-parts", func(b *testing.B) { benchParseChat(b, 20, 4<<10) })
}

func benchParseChat(b *testing.B, messages, size int) {
	var sb strings.Builder
	sb.WriteString(`{"model":"m","max_tokens":100,"messages":[`)
	for i := range messages {
		if i > 0 {
			sb.WriteString(",")
		}
		if messages == 1 {
			sb.WriteString(`{"role":"user","content":"` + strings.Repeat("x", size) + `"}`)
			continue
		}
		sb.WriteString(`{"role":"user","content":[{"type":"text","text":"` + strings.Repeat("y", size) +
			`"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + strings.Repeat("A", size) + `"}}]}`)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c, err := parseChat(body, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.capOutput(1000)
		encodeFields(c.fields)
	}
}
