package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"time"
)

// TestLogAccessLine checks the fields of an access line, their JSON
// escaping, the level a 5xx gets and that a disabled level writes nothing.
func TestLogAccessLine(t *testing.T) {
	at := time.Date(2026, 3, 29, 0, 59, 58, 123456789, time.UTC)
	a := &Access{RequestID: "r-1", Method: "GET", Route: "/api/tasks/*", Path: "/api/tasks/\"caf\u00e9\"\n",
		UserID: "u1", Status: 502, Bytes: 12, Latency: 1234567 * time.Nanosecond, Time: at}
	var buf bytes.Buffer
	LogAccess(context.Background(), NewLogger(&buf, "svc", slog.LevelInfo), a)
	want := `{"time":"2026-03-29T00:59:58.123456789Z","level":"ERROR","msg":"request","service":"svc",` +
		`"request_id":"r-1","method":"GET","route":"/api/tasks/*","path":"/api/tasks/\"café\"\n",` +
		`"status":502,"latency_us":1234,"bytes":12,"user_id":"u1"}` + "\n"
	if buf.String() != want {
		t.Fatalf("line:\n%s\nwant:\n%s", buf.String(), want)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}

	buf.Reset()
	LogAccess(context.Background(), NewLogger(&buf, "svc", slog.LevelInfo), &Access{Status: 200, Latency: time.Millisecond})
	m = nil
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["level"] != "INFO" || m["latency_us"] != 1000.0 || m["user_id"] != nil {
		t.Fatalf("200 line without a user: %s", buf.String())
	}

	buf.Reset()
	LogAccess(context.Background(), NewLogger(&buf, "svc", slog.LevelError), &Access{Status: 200})
	if buf.Len() != 0 {
		t.Fatalf("INFO line written at level ERROR: %s", buf.String())
	}
}

// TestAccessLineEncodersAgree checks that NewLogger's access lines
// (zerolog) are the JSON objects slog's JSONHandler writes for the same
// record: the same keys in the same order with the same values, for
// hostile strings (quotes, control bytes, invalid UTF-8, line separators),
// both levels, with and without the optional fields, and times in UTC and
// in another zone.
func TestAccessLineEncodersAgree(t *testing.T) {
	zone := time.FixedZone("", -(3*3600 + 30*60))
	hostile := []string{"", "/api/tasks", `"quoted" \back\slash`, "new\nline\r\ttab", "\x00\x01\x1f\x7f",
		"\xff\xfe invalid \xc3", "<script>&amp;</script>", "line\u2028sep\u2029", "caf\u00e9 \U0001F600"}
	var cases []*Access
	for i, s := range hostile {
		cases = append(cases, &Access{RequestID: s, Method: "GET", Route: "/api/tasks/*", Path: s, UserID: s,
			TraceID: s, Status: 200 + 101*i, Bytes: i * 1000, Latency: time.Duration(i) * 1234567,
			Time: time.Date(2026, 12, 4, 5, 6, 7, i*100000000, time.UTC)})
	}
	cases = append(cases,
		&Access{Method: "POST", Status: 503, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, zone)},
		&Access{Method: "DELETE", Status: 204, Latency: 999, Time: time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC)})
	for i, a := range cases {
		var fast, plain bytes.Buffer
		LogAccess(context.Background(), NewLogger(&fast, "svc", slog.LevelInfo), a)
		ref := slog.New(slog.NewJSONHandler(&plain, nil)).With("service", "svc")
		if _, isFast := ref.Handler().(*handler); isFast {
			t.Fatal("the reference logger took the fast path")
		}
		LogAccess(context.Background(), ref, a)
		if got, want := jsonFields(t, fast.Bytes()), jsonFields(t, plain.Bytes()); !reflect.DeepEqual(got, want) {
			t.Errorf("case %d:\nzerolog: %s\nslog:    %s", i, fast.Bytes(), plain.Bytes())
		}
	}
}

// jsonFields decodes one JSON object line into its keys and values in
// order.
func jsonFields(t *testing.T, line []byte) [][2]any {
	t.Helper()
	if n := bytes.IndexByte(line, '\n'); n != len(line)-1 {
		t.Fatalf("not one line: %q", line)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %q (%v)", line, err)
	}
	var fields [][2]any
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		fields = append(fields, [2]any{key, v})
	}
	return fields
}
