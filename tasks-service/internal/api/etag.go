package api

import (
	"strconv"
	"strings"
)

// etag is the strong entity tag of a task version: "<version>".
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch parses If-Match: nil when absent or "*", else the version it
// names. A tag that is not one of ours (weak, malformed, several) can never
// match, so it becomes version -1 and the write fails with 412.
func ifMatch(header string) *int64 {
	header = strings.TrimSpace(header)
	if header == "" || header == "*" {
		return nil
	}
	v := int64(-1)
	if len(header) >= 3 && header[0] == '"' && header[len(header)-1] == '"' {
		if n, err := strconv.ParseInt(header[1:len(header)-1], 10, 64); err == nil && n > 0 {
			v = n
		}
	}
	return &v
}

// noneMatch reports whether If-None-Match matches version (weak comparison).
func noneMatch(header string, version int64) bool {
	want := etag(version)
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == want {
			return true
		}
	}
	return false
}
