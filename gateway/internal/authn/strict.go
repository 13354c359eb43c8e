package authn

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// The JOSE header and the claims are read strictly, because other JSON
// readers would read them differently: RFC 7515 and RFC 7519 member names
// are case-sensitive (Go's decoder matches struct fields in any case, so
// {"ALG":…} passed for alg), a member named twice is refused (parsers
// disagree on which one wins), and a NumericDate is a JSON number (jwx also
// takes strings such as "0" or "1970-01-01T00:00:00Z", and treats a zero
// exp as no exp at all: a token that never expires).

var (
	errDuplicate = errors.New("authn: duplicate member")
	errNotObject = errors.New("authn: not one JSON object")
)

// members decodes b as one JSON object and returns its members undecoded.
// A name that occurs twice (after JSON unescaping, as RFC 8259 compares
// them) is errDuplicate; anything but one object is errNotObject.
func members(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errNotObject
	}
	out := make(map[string]json.RawMessage, 8)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errNotObject
		}
		name, _ := tok.(string)
		if _, dup := out[name]; dup {
			return nil, errDuplicate
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errNotObject
		}
		out[name] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotObject
	}
	return out, nil
}

// caseVariant returns a member name of m that differs from one of names
// only in case (e.g. "ALG" for "alg"), or "". Such a member is refused
// rather than ignored: the gateway would read the token differently from a
// reader that matches names in any case.
func caseVariant(m map[string]json.RawMessage, names ...string) string {
	for got := range m {
		for _, name := range names {
			if got != name && strings.EqualFold(got, name) {
				return got
			}
		}
	}
	return ""
}

// stringMember returns the string member name of m: "" when it is absent,
// ok false when it is not a JSON string.
func stringMember(m map[string]json.RawMessage, name string) (s string, ok bool) {
	raw, present := m[name]
	if !present {
		return "", true
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// maxNumericDate is 9999-12-31T23:59:59Z: a larger time claim is refused,
// not wrapped or saturated by a conversion.
const maxNumericDate = 253402300799

// numericDate returns the NumericDate member name of m (RFC 7519 section 2:
// a JSON number of seconds since 1970, fractions allowed). present is false
// when it is absent; ok is false when it is anything but a number between
// -maxNumericDate and maxNumericDate.
func numericDate(m map[string]json.RawMessage, name string) (t time.Time, present, ok bool) {
	raw, present := m[name]
	if !present {
		return time.Time{}, false, true
	}
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return time.Time{}, true, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.Abs(f) > maxNumericDate {
		return time.Time{}, true, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true, true
}
