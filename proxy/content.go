package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/agoranet/agora/internal/clip"
)

// A message's content parts can name things for the provider to fetch:
// image_url.url, file.file_data, video_url, audio_url, and whatever a
// provider adds next. A provider that fetches them would be the sandbox's
// way out to any host, with the run's data in the URL. So every string in
// a content part that is not inline data (a data: URL) or plain text is
// collected as a remoteRef, and the proxy refuses the call unless the
// operator allows remote URLs (see Config.AllowRemoteURLs).

// remoteRef is a reference to something outside the request.
type remoteRef struct {
	path string // where in the body, e.g. messages[1].content[0].image_url.url
	url  string // the URL as sent; empty for a provider file id
}

// contentWalk re-encodes messages from their decoded form, so that what
// the proxy checked is what the upstream reads (a duplicated key is
// resolved here, not by the upstream's parser), and collects the remote
// references in their content parts.
type contentWalk struct {
	messages int
	refs     []remoteRef
}

// value walks one JSON value at path; key is the object key it is under,
// inPart says it is inside a content part. Objects and arrays come back
// compact, built from their walked members; other values, which the
// decoder handed over as their exact bytes, come back as they are.
func (cw *contentWalk) value(raw json.RawMessage, path, key string, inPart bool) (json.RawMessage, error) {
	switch kindOf(raw) {
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, badRequest(path, "expected an object")
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys) // the first fault reported is the same every time
		out := make([]byte, 0, len(raw))
		out = append(out, '{')
		for i, k := range keys {
			v, err := cw.value(obj[k], path+"."+k, k, inPart)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				out = append(out, ',')
			}
			out = append(append(out, encodeJSON(k)...), ':')
			out = append(out, v...)
		}
		return append(out, '}'), nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, badRequest(path, "expected an array")
		}
		if path == "messages" {
			cw.messages = len(items)
		}
		// The elements of a content array are its parts.
		parts := inPart || key == "content"
		out := make([]byte, 0, len(raw))
		out = append(out, '[')
		for i, it := range items {
			v, err := cw.value(it, path+"["+strconv.Itoa(i)+"]", key, parts)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, v...)
		}
		return append(out, ']'), nil
	case '"':
		cw.checkString(raw, path, key, inPart)
	}
	return raw, nil
}

// checkString records a string that names something remote: any value of
// a URL-like key that is not a data: URL, a provider file id, and in a
// content part any URL-looking string that is not text (a bare string in
// a content array is text too).
func (cw *contentWalk) checkString(raw json.RawMessage, path, key string, inPart bool) {
	k := strings.ToLower(key)
	switch {
	case k == "url" || k == "uri" || strings.HasSuffix(k, "_url") || strings.HasSuffix(k, "_uri") || k == "file_data":
		if !isDataURL(raw) {
			cw.refs = append(cw.refs, remoteRef{path: path, url: decodeString(raw)})
		}
	case k == "file_id":
		cw.refs = append(cw.refs, remoteRef{path: path})
	case inPart && k != "text" && k != "content" && k != "refusal" && k != "type":
		if s := decodeString(raw); looksLikeURL(s) {
			cw.refs = append(cw.refs, remoteRef{path: path, url: s})
		}
	}
}

// isDataURL reports whether a JSON string holds a data: URL, or nothing.
// A literal `"data:` prefix is read without decoding the (often large)
// rest; anything else is decoded, so escapes cannot hide a scheme.
func isDataURL(raw json.RawMessage) bool {
	if len(raw) >= 6 && bytes.EqualFold(raw[:6], []byte(`"data:`)) {
		return true
	}
	s := strings.TrimSpace(decodeString(raw))
	return s == "" || len(s) >= 5 && strings.EqualFold(s[:5], "data:")
}

// looksLikeURL reports whether s names a resource by URL, including a
// scheme-relative one. Base64 data never contains "://".
func looksLikeURL(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "//") || strings.Contains(s, "://")
}

func decodeString(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// hostAllowed reports whether the operator's allowlist names u's host: an
// entry is a host name, or "*.example.com" for its subdomains. Only http
// and https URLs can be allowed this way.
func hostAllowed(hosts []string, u string) bool {
	pu, err := url.Parse(strings.TrimSpace(u))
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.User != nil {
		return false
	}
	h := strings.ToLower(pu.Hostname())
	for _, a := range hosts {
		a = strings.ToLower(a)
		if h == a || strings.HasPrefix(a, "*.") && strings.HasSuffix(h, a[1:]) {
			return true
		}
	}
	return false
}

// checkRemote applies the URL policy to a call's remote references and
// returns how many were allowed, each of which adds RemoteURLTokens to the
// call's reservation: what a fetched resource costs cannot be read from
// the body.
func (p *Proxy) checkRemote(refs []remoteRef) (int64, *apiError) {
	for _, r := range refs {
		switch {
		case p.cfg.AllowRemoteURLs:
		case r.url != "" && hostAllowed(p.cfg.RemoteURLHosts, r.url):
		case r.url == "":
			return 0, &apiError{status: 400, typ: "invalid_request_error", code: "remote_reference_not_allowed", param: r.path,
				msg: r.path + ": files stored at the provider cannot be used through this proxy; send the content inline"}
		default:
			return 0, &apiError{status: 400, typ: "invalid_request_error", code: "remote_url_not_allowed", param: r.path,
				msg: fmt.Sprintf("%s: remote URLs (%s) are not allowed through this proxy; send the content inline as a data: URL",
					r.path, clip.String(r.url, 64))}
		}
	}
	return int64(len(refs)), nil
}
