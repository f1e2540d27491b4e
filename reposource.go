package agora

import "strings"

// DefaultRepoSource is where repositories come from unless told otherwise:
// a repository location template for ExpandRepoSource.
const DefaultRepoSource = "https://github.com/{owner}/{name}.git"

// ExpandRepoSource fills a repository location template (a URL or a local
// path) for the repository owner/name: {owner} and {name} become its parts
// and {repo} the whole "owner/name", as in "mirrors/{owner}+{name}/repo".
// An empty template is DefaultRepoSource.
func ExpandRepoSource(tmpl, owner, name string) string {
	if tmpl == "" {
		tmpl = DefaultRepoSource
	}
	return strings.NewReplacer("{owner}", owner, "{name}", name, "{repo}", owner+"/"+name).Replace(tmpl)
}
