package web

import (
	"bytes"
	"html/template"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// md renders task text, which is untrusted: goldmark without WithUnsafe
// drops raw HTML (it writes "raw HTML omitted") and refuses dangerous link
// schemes (javascript:, vbscript:, data: other than images).
var md = goldmark.New(
	goldmark.WithExtensions(extension.Table, extension.Strikethrough),
	goldmark.WithParserOptions(parser.WithASTTransformers(util.Prioritized(headingShift{2}, 100))),
)

// headingShift demotes headings: the page owns h1 and h2, so a task's
// "# Title" becomes an h3 under the page's own headings.
type headingShift struct{ by int }

func (h headingShift) Transform(doc *ast.Document, _ text.Reader, _ parser.Context) {
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if hd, ok := n.(*ast.Heading); ok && entering {
			hd.Level = min(hd.Level+h.by, 6)
		}
		return ast.WalkContinue, nil
	})
}

// MaxMarkdown bounds the text rendered: a task's brief and statement are
// bounded when stored, this bounds the work anyway.
const MaxMarkdown = 1 << 20

// Markdown renders CommonMark to HTML that is safe to embed, headings
// from h3 down.
func Markdown(src string) template.HTML {
	if len(src) > MaxMarkdown {
		src = src[:MaxMarkdown]
	}
	var b bytes.Buffer
	if err := md.Convert([]byte(src), &b); err != nil {
		return template.HTML("<pre>" + template.HTMLEscapeString(src) + "</pre>")
	}
	return template.HTML(b.String())
}
