package identity

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// vectorFile mirrors testdata/vectors.json. The expected headers there were
// computed with openssl, not with this package (see the README's worked
// example), so these tests check the implementation against the contract.
type vectorFile struct {
	IdentityKeys string `json:"identity_keys"`
	KeyID        string `json:"key_id"`
	Vectors      []struct {
		Name          string `json:"name"`
		Method        string `json:"method"`
		Target        string `json:"target"`
		UserID        string `json:"user_id"`
		Body          string `json:"body"`
		T             int64  `json:"t"`
		BodySHA256Hex string `json:"body_sha256_hex"`
		SignedText    string `json:"signed_text"`
		Header        string `json:"header"`
	} `json:"vectors"`
}

func mustLoadVectors(tb testing.TB) vectorFile {
	tb.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		tb.Fatal(err)
	}
	if len(vf.Vectors) == 0 {
		tb.Fatal("no vectors")
	}
	return vf
}

func mustKeyring(tb testing.TB, s string) *Keyring {
	tb.Helper()
	kr, err := ParseKeys(s)
	if err != nil {
		tb.Fatal(err)
	}
	return kr
}

func TestVectors(t *testing.T) {
	vf := mustLoadVectors(t)
	kr := mustKeyring(t, vf.IdentityKeys)
	v := NewVerifier(kr, 0)
	for _, tc := range vf.Vectors {
		t.Run(tc.Name, func(t *testing.T) {
			r := Request{Method: tc.Method, Target: tc.Target, UserID: tc.UserID, BodySHA256: HashBody([]byte(tc.Body))}
			if got := SignedText(tc.T, r); got != tc.SignedText {
				t.Errorf("signed text:\n got %q\nwant %q", got, tc.SignedText)
			}
			now := time.Unix(tc.T, 0)
			if got := kr.Sign(r, now); got != tc.Header {
				t.Errorf("Sign:\n got %s\nwant %s", got, tc.Header)
			}
			if err := v.Verify(tc.Header, r, now.Add(29*time.Second)); err != nil {
				t.Errorf("Verify(vector) = %v", err)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	vf := mustLoadVectors(t)
	kr := mustKeyring(t, vf.IdentityKeys)
	v := NewVerifier(kr, 30*time.Second)
	vec := vf.Vectors[0]
	r := Request{Method: vec.Method, Target: vec.Target, UserID: vec.UserID, BodySHA256: HashBody([]byte(vec.Body))}
	now := time.Unix(vec.T, 0)
	good := vec.Header
	otherKey := mustKeyring(t, "k2026-01:"+base64.StdEncoding.EncodeToString([]byte("another-key-of-at-least-32-bytes!!")))

	with := func(f func(*Request)) Request { c := r; f(&c); return c }
	cases := []struct {
		desc   string
		header string
		req    Request
		now    time.Time
		want   error
	}{
		{"empty header", "", r, now, ErrMissing},
		{"other version", strings.Replace(good, "v1,", "v2,", 1), r, now, ErrUnsupportedVersion},
		{"no version", strings.TrimPrefix(good, "v1,"), r, now, ErrMalformed},
		{"upper-case version", "V1" + good[2:], r, now, ErrMalformed},
		{"space after comma", strings.Replace(good, ",kid", ", kid", 1), r, now, ErrMalformed},
		{"fields reordered", "v1,t=1767225600,kid=k2026-01,sig=" + good[strings.Index(good, "sig=")+4:], r, now, ErrMalformed},
		{"extra field", good + ",x=1", r, now, ErrMalformed},
		{"missing sig", good[:strings.Index(good, ",sig=")], r, now, ErrMalformed},
		{"padded sig", good + "=", r, now, ErrMalformed},
		{"std base64 sig", strings.NewReplacer("-", "+", "_", "/").Replace(good), r, now, ErrMalformed},
		{"short sig", good[:len(good)-4], r, now, ErrMalformed},
		{"t with plus", strings.Replace(good, "t=", "t=+", 1), r, now, ErrMalformed},
		{"t with leading zero", strings.Replace(good, "t=", "t=0", 1), r, now, ErrMalformed},
		{"t negative", strings.Replace(good, "t=1767225600", "t=-1", 1), r, now, ErrMalformed},
		{"t not a number", strings.Replace(good, "t=1767225600", "t=abc", 1), r, now, ErrMalformed},
		{"kid with separator", strings.Replace(good, "kid=k2026-01", "kid=a:b", 1), r, now, ErrMalformed},
		{"oversized header", good + strings.Repeat("A", 600), r, now, ErrMalformed},
		{"unknown kid", strings.Replace(good, "kid=k2026-01", "kid=k1999", 1), r, now, ErrUnknownKey},
		{"too old", good, r, now.Add(31 * time.Second), ErrStale},
		{"from the future", good, r, now.Add(-31 * time.Second), ErrStale},
		{"other method", good, with(func(c *Request) { c.Method = "DELETE" }), now, ErrBadSignature},
		{"other target", good, with(func(c *Request) { c.Target = "/api/tasks/x" }), now, ErrBadSignature},
		{"query appended", good, with(func(c *Request) { c.Target += "?all=1" }), now, ErrBadSignature},
		{"other user", good, with(func(c *Request) { c.UserID = "attacker" }), now, ErrBadSignature},
		{"other body", good, with(func(c *Request) { c.BodySHA256 = HashBody([]byte(`{"title":"x"}`)) }), now, ErrBadSignature},
		{"signed by another key with the same kid", otherKey.Sign(r, now), r, now, ErrBadSignature},
		{"timestamp changed", strings.Replace(good, "t=1767225600", "t=1767225601", 1), r, now, ErrBadSignature},
		{"empty user", good, with(func(c *Request) { c.UserID = "" }), now, ErrBadUserID},
		{"user with newline", good, with(func(c *Request) { c.UserID = "a\nb" }), now, ErrBadUserID},
		{"user too long", good, with(func(c *Request) { c.UserID = strings.Repeat("a", 256) }), now, ErrBadUserID},
		{"user not utf-8", good, with(func(c *Request) { c.UserID = "a\xffb" }), now, ErrBadUserID},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := v.Verify(tc.header, tc.req, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if Reason(err) == "error" || Reason(err) == "" {
				t.Fatalf("Reason(%v) = %q, want a specific reason", err, Reason(err))
			}
		})
	}
}

// TestVerifyRejectsEveryAlteredBit flips each bit of an otherwise valid
// signature, one at a time: a comparison that looks at part of the MAC (the
// first 16 bytes, all but the last byte) accepts some of them.
func TestVerifyRejectsEveryAlteredBit(t *testing.T) {
	vf := mustLoadVectors(t)
	v := NewVerifier(mustKeyring(t, vf.IdentityKeys), 0)
	for _, vec := range vf.Vectors {
		r := Request{Method: vec.Method, Target: vec.Target, UserID: vec.UserID, BodySHA256: HashBody([]byte(vec.Body))}
		now := time.Unix(vec.T, 0)
		a, err := Parse(vec.Header)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(vec.Header, r, now); err != nil {
			t.Fatalf("%s: control: the unaltered header fails: %v", vec.Name, err)
		}
		prefix := vec.Header[:strings.Index(vec.Header, "sig=")+len("sig=")]
		for i := range a.Sig {
			for bit := range 8 {
				sig := append([]byte(nil), a.Sig...)
				sig[i] ^= 1 << bit
				err := v.Verify(prefix+base64.RawURLEncoding.EncodeToString(sig), r, now)
				if !errors.Is(err, ErrBadSignature) {
					t.Errorf("%s: signature byte %d bit %d flipped: Verify = %v, want %v", vec.Name, i, bit, err, ErrBadSignature)
				}
			}
		}
	}
}

// TestWindowEdges: t may lie up to the window away from the clock, in
// either direction, inclusive; a nanosecond or a second more is stale.
func TestWindowEdges(t *testing.T) {
	vf := mustLoadVectors(t)
	vec := vf.Vectors[0]
	r := Request{Method: vec.Method, Target: vec.Target, UserID: vec.UserID, BodySHA256: HashBody([]byte(vec.Body))}
	signed := time.Unix(vec.T, 0)
	for _, window := range []time.Duration{0, DefaultWindow, 5 * time.Second} {
		v := NewVerifier(mustKeyring(t, vf.IdentityKeys), window)
		w := window
		if w == 0 {
			w = DefaultWindow
		}
		for _, tc := range []struct {
			skew time.Duration
			want error
		}{
			{0, nil},
			{w - time.Second, nil},
			{w, nil},
			{w + time.Nanosecond, ErrStale},
			{w + time.Second, ErrStale},
		} {
			for _, dir := range []time.Duration{1, -1} { // verifier's clock ahead of t, behind it
				skew := dir * tc.skew
				err := v.Verify(vec.Header, r, signed.Add(skew))
				if !errors.Is(err, tc.want) {
					t.Errorf("window %s, clock %+v from t: Verify = %v, want %v", window, skew, err, tc.want)
				}
			}
		}
	}
}

func TestRotation(t *testing.T) {
	oldKey := "old:" + base64.StdEncoding.EncodeToString([]byte("old-key-old-key-old-key-old-key-!"))
	newKey := "new:" + base64.StdEncoding.EncodeToString([]byte("new-key-new-key-new-key-new-key-!"))
	r := Request{Method: "GET", Target: "/api/tasks", UserID: "u1", BodySHA256: HashBody(nil)}
	now := time.Now()

	signedByOld := mustKeyring(t, oldKey).Sign(r, now)
	// Step 1 of a rollout: verifiers learn the new key second.
	both := NewVerifier(mustKeyring(t, oldKey+","+newKey), 0)
	if err := both.Verify(signedByOld, r, now); err != nil {
		t.Fatalf("old signature during rollout: %v", err)
	}
	// Step 2: the gateway signs with the new key first.
	swapped := mustKeyring(t, newKey+", "+oldKey)
	if swapped.SigningKeyID() != "new" {
		t.Fatalf("signing key = %q", swapped.SigningKeyID())
	}
	if err := both.Verify(swapped.Sign(r, now), r, now); err != nil {
		t.Fatalf("new signature during rollout: %v", err)
	}
	// Step 3: the old key is removed; its signatures stop working.
	onlyNew := NewVerifier(mustKeyring(t, newKey), 0)
	if err := onlyNew.Verify(signedByOld, r, now); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old signature after removal: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	k32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	cases := []struct {
		desc, in string
		ok       bool
	}{
		{"one key", "a:" + k32, true},
		{"two keys with spaces", " a:" + k32 + " , b:" + k32, true},
		{"empty", "", false},
		{"blank", "   ", false},
		{"no colon", k32, false},
		{"empty kid", ":" + k32, false},
		{"kid with comma-like char", "a=b:" + k32, false},
		{"short key", "a:" + base64.StdEncoding.EncodeToString(make([]byte, 31)), false},
		{"unpadded base64", "a:" + strings.TrimRight(base64.StdEncoding.EncodeToString(make([]byte, 34)), "="), false},
		{"url base64", "a:" + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xfb", 33))), false},
		{"duplicate kid", "a:" + k32 + ",a:" + k32, false},
		{"trailing comma", "a:" + k32 + ",", false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseKeys(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseKeys(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), k32) {
				t.Fatalf("error leaks key material: %v", err)
			}
		})
	}
}

func TestValidUserID(t *testing.T) {
	for _, id := range []string{"a", "yP4vFmZxq3cR8tWbN2kLsJ7dHgA9eU1o", "6f1c7d2e-8a3b-4c5d-9e0f-1a2b3c4d5e6f", "usér", strings.Repeat("x", 255)} {
		if !ValidUserID(id) {
			t.Errorf("ValidUserID(%q) = false", id)
		}
	}
	for _, id := range []string{"", "a\x00", "a\tb", "a\rb", "a\x7f", "a\u0085b", strings.Repeat("x", 256), "\xc3",
		" alice", "alice ", "\u00a0alice", "alice\u3000", "\ufeffalice", "alice\u2028"} {
		if ValidUserID(id) {
			t.Errorf("ValidUserID(%q) = true", id)
		}
	}
	// Inside an id, a space or other white space travels verbatim.
	for _, id := range []string{"a b", "a\u00a0b"} {
		if !ValidUserID(id) {
			t.Errorf("ValidUserID(%q) = false", id)
		}
	}
	for id, want := range map[string]error{"": errUserIDShape, " alice": ErrUserIDNotHeaderSafe, "a\nb": ErrUserIDNotHeaderSafe} {
		if err := CheckUserID(id); err != want || !errors.Is(err, ErrBadUserID) {
			t.Errorf("CheckUserID(%q) = %v, want %v wrapping ErrBadUserID", id, err, want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	vf := mustLoadVectors(f)
	kr := mustKeyring(f, vf.IdentityKeys)
	v := NewVerifier(kr, time.Hour)
	for _, vec := range vf.Vectors {
		f.Add(vec.Header, vec.Method, vec.Target, vec.UserID, []byte(vec.Body), vec.T)
	}
	f.Add("v1,kid=,t=,sig=", "", "", "", []byte(nil), int64(0))
	f.Fuzz(func(t *testing.T, header, method, target, user string, body []byte, unix int64) {
		r := Request{Method: method, Target: target, UserID: user, BodySHA256: HashBody(body)}
		now := time.Unix(unix, 0)
		err := v.Verify(header, r, now)
		if err != nil {
			if Reason(err) == "error" {
				t.Fatalf("unclassified error %v", err)
			}
		} else {
			// Acceptance must mean the header is exactly what we would sign.
			a, perr := Parse(header)
			if perr != nil {
				t.Fatalf("accepted unparsable header %q", header)
			}
			if want := kr.Sign(r, time.Unix(a.T, 0)); want != header {
				t.Fatalf("accepted %q, canonical is %q", header, want)
			}
		}
		// Whatever the fuzzer sends, our own signature of it must verify.
		if ValidUserID(user) && unix >= 0 && unix < 1<<40 {
			if err := v.Verify(kr.Sign(r, now), r, now); err != nil {
				t.Fatalf("own signature rejected: %v", err)
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	kr := mustKeyring(b, mustLoadVectors(b).IdentityKeys)
	r := Request{Method: "POST", Target: "/api/tasks?limit=20", UserID: "yP4vFmZxq3cR8tWbN2kLsJ7dHgA9eU1o", BodySHA256: HashBody([]byte(`{"title":"Buy milk"}`))}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		_ = kr.Sign(r, now)
	}
}

func BenchmarkVerify(b *testing.B) {
	kr := mustKeyring(b, mustLoadVectors(b).IdentityKeys)
	v := NewVerifier(kr, 0)
	r := Request{Method: "POST", Target: "/api/tasks?limit=20", UserID: "yP4vFmZxq3cR8tWbN2kLsJ7dHgA9eU1o", BodySHA256: HashBody([]byte(`{"title":"Buy milk"}`))}
	now := time.Now()
	h := kr.Sign(r, now)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(h, r, now); err != nil {
			b.Fatal(err)
		}
	}
}
