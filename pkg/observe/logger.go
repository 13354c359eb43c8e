package observe

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// handler is the slog.Handler behind NewLogger: slog's JSONHandler for
// every record, plus a direct encoder for access-log lines (LogAccess) that
// writes the same JSON without slog's per-attribute reflection. Both write
// whole lines with one Write each to the same writer, which is locked
// unless it serialises its writes itself (AtomicWriter, *os.File), so lines
// never interleave.
type handler struct {
	slog.Handler
	w     io.Writer
	level slog.Leveler
	// prefix holds the encoded attributes added by With (`"service":"x",`);
	// fast is false once a group or an attribute the direct encoder does
	// not handle was added, and LogAccess then goes through slog.
	prefix []byte
	fast   bool
}

// AtomicWriter is an io.Writer that is safe for concurrent use and writes
// the bytes of each Write contiguously (a buffered writer under its own
// lock, say). A logger over one takes no lock of its own.
type AtomicWriter interface {
	io.Writer
	AtomicWrites()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newHandler(w io.Writer, level slog.Leveler) *handler {
	switch w.(type) {
	case AtomicWriter, *os.File: // an os.File holds its write lock per Write
	default:
		w = &lockedWriter{w: w}
	}
	return &handler{Handler: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}), w: w, level: level, fast: true}
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.Handler = h.Handler.WithAttrs(attrs)
	h2.prefix = append([]byte(nil), h.prefix...)
	for _, a := range attrs {
		switch v := a.Value.Resolve(); v.Kind() {
		case slog.KindString:
			h2.prefix = appendJSONString(h2.prefix, a.Key)
			h2.prefix = append(h2.prefix, ':')
			h2.prefix = appendJSONString(h2.prefix, v.String())
			h2.prefix = append(h2.prefix, ',')
		case slog.KindInt64:
			h2.prefix = appendJSONString(h2.prefix, a.Key)
			h2.prefix = append(h2.prefix, ':')
			h2.prefix = strconv.AppendInt(h2.prefix, v.Int64(), 10)
			h2.prefix = append(h2.prefix, ',')
		default:
			h2.fast = false
		}
	}
	return &h2
}

func (h *handler) WithGroup(name string) slog.Handler {
	h2 := *h
	h2.Handler = h.Handler.WithGroup(name)
	h2.fast = false
	return &h2
}

// Access is one access-log line.
type Access struct {
	RequestID string
	Method    string
	Route     string
	Path      string
	UserID    string // omitted when empty
	Status    int
	Bytes     int
	Latency   time.Duration
	Time      time.Time // when the line is written; zero means now
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// LogAccess writes a's line, msg "request", at level INFO (ERROR for a 5xx
// status): time, level, msg, the logger's attributes, request_id, method,
// route, path, status, latency_ms, bytes and user_id when set. With a
// logger from NewLogger the line is encoded directly into a pooled buffer
// (the same JSON slog's JSONHandler writes, ~10x cheaper); any other logger
// gets the same attributes through LogAttrs.
func LogAccess(ctx context.Context, log *slog.Logger, a *Access) {
	level := slog.LevelInfo
	if a.Status >= 500 {
		level = slog.LevelError
	}
	t := a.Time
	if t.IsZero() {
		t = time.Now()
	}
	h, ok := log.Handler().(*handler)
	if !ok || !h.fast {
		attrs := make([]slog.Attr, 0, 8)
		attrs = append(attrs,
			slog.String("request_id", a.RequestID),
			slog.String("method", a.Method),
			slog.String("route", a.Route),
			slog.String("path", a.Path),
			slog.Int("status", a.Status),
			slog.Float64("latency_ms", float64(a.Latency.Microseconds())/1000),
			slog.Int("bytes", a.Bytes),
		)
		if a.UserID != "" {
			attrs = append(attrs, slog.String("user_id", a.UserID))
		}
		if log.Enabled(ctx, level) {
			r := slog.NewRecord(t, level, "request", 0)
			r.AddAttrs(attrs...)
			_ = log.Handler().Handle(ctx, r)
		}
		return
	}
	if level < h.level.Level() {
		return
	}
	bp := lineBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"time":"`...)
	b = appendTime(b, t)
	if level == slog.LevelError {
		b = append(b, `","level":"ERROR","msg":"request",`...)
	} else {
		b = append(b, `","level":"INFO","msg":"request",`...)
	}
	b = append(b, h.prefix...)
	b = append(b, `"request_id":`...)
	b = appendJSONString(b, a.RequestID)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, a.Method)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, a.Route)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, a.Path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(a.Status), 10)
	b = append(b, `,"latency_ms":`...)
	b = appendMillis(b, a.Latency.Microseconds())
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(a.Bytes), 10)
	if a.UserID != "" {
		b = append(b, `,"user_id":`...)
		b = appendJSONString(b, a.UserID)
	}
	b = append(b, "}\n"...)
	_, _ = h.w.Write(b)
	if cap(b) <= 4<<10 {
		*bp = b
		lineBufs.Put(bp)
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way slog's JSONHandler
// does: quotes, backslashes and control characters escaped, invalid UTF-8
// replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := plainPrefix(s); i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainPrefix returns how many leading bytes of s, a multiple of 8, are
// printable ASCII other than '"' and '\\': bytes a JSON string holds as
// they are. It tests eight bytes at a time, so that the ids, paths and
// routes of access lines (nearly always plain) skip the byte loop.
func plainPrefix(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A byte below 0x20, a quote, a backslash, or one with its high bit
		// set (non-ASCII) stops the run.
		if (w-ones*0x20)&^w&highs|hasZero(w^(ones*'"'))|hasZero(w^(ones*'\\'))|w&highs != 0 {
			break
		}
	}
	return i
}

const ones, highs = 0x0101010101010101, 0x8080808080808080

// hasZero is nonzero when some byte of v is zero (exact as to whether; a
// borrow can only follow a true zero byte).
func hasZero(v uint64) uint64 { return (v - ones) & ^v & highs }

// appendMillis appends us microseconds as milliseconds, the way
// strconv.AppendFloat(float64(us)/1000, 'f', -1) (and so slog) prints them:
// no trailing zeros, no point for whole milliseconds.
func appendMillis(b []byte, us int64) []byte {
	if us < 0 {
		b = append(b, '-')
		us = -us
	}
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	if frac == 0 {
		return b
	}
	d := [3]byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := 3
	for d[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, d[:n]...)
}

// secondStamp caches the RFC 3339 text of one second ("2006-01-02T15:04:05")
// and its zone ("Z" or "+01:00"), so that a log line formats only the
// fraction.
type secondStamp struct {
	unix int64
	loc  *time.Location
	date []byte
	zone []byte
}

var lastStamp atomic.Pointer[secondStamp]

// appendTime appends t as time.RFC3339Nano does.
func appendTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	st := lastStamp.Load()
	if st == nil || st.unix != sec || st.loc != t.Location() {
		st = &secondStamp{
			unix: sec, loc: t.Location(),
			date: t.AppendFormat(nil, "2006-01-02T15:04:05"),
			zone: t.AppendFormat(nil, "Z07:00"),
		}
		if y := t.Year(); y < 0 || y > 9999 {
			return t.AppendFormat(b, time.RFC3339Nano)
		}
		lastStamp.Store(st)
	}
	b = append(b, st.date...)
	if ns := t.Nanosecond(); ns != 0 {
		var d [9]byte
		for i := 8; i >= 0; i-- {
			d[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 9
		for d[n-1] == '0' {
			n--
		}
		b = append(b, '.')
		b = append(b, d[:n]...)
	}
	return append(b, st.zone...)
}
