package main

import (
	"bufio"
	"crypto/md5" //nolint:gosec // Postgres's md5 password method, when the server asks for it
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// pgConn is a minimal client of the Postgres wire protocol (v3): start-up
// with trust, cleartext or md5 authentication, and simple-protocol queries.
// It is the ceiling's load generator — a query is one 'Q' message and the
// read of its answer up to ReadyForQuery, with nothing else in between — and
// the bench's admin connection. It speaks plaintext only: the bench runs
// against a local server.
type pgConn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte // the message being written
}

// pgURL is what pgConn needs from a postgres:// URL.
type pgURL struct {
	addr, user, password, db string
}

func parsePGURL(raw string) (pgURL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil {
		return pgURL{}, fmt.Errorf("database URL %q: want postgres://user@host:port/db", raw)
	}
	if m := u.Query().Get("sslmode"); m != "" && m != "disable" {
		return pgURL{}, fmt.Errorf("database URL: sslmode=%s; the bench speaks plaintext to a local server (sslmode=disable)", m)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	pw, _ := u.User.Password()
	return pgURL{addr: host, user: u.User.Username(), password: pw, db: strings.TrimPrefix(u.Path, "/")}, nil
}

// with returns the URL of database db on the same server.
func (p pgURL) with(db string) pgURL { p.db = db; return p }

// String is the URL for the tasks service (DATABASE_URL).
func (p pgURL) String(appName string) string {
	u := url.URL{Scheme: "postgres", Host: p.addr, Path: "/" + p.db, RawQuery: "sslmode=disable&application_name=" + url.QueryEscape(appName)}
	if p.password != "" {
		u.User = url.UserPassword(p.user, p.password)
	} else {
		u.User = url.User(p.user)
	}
	return u.String()
}

// pgConnect connects to p; a server at its max_connections (other clients
// of a shared server come and go) is retried for up to 10 s.
func pgConnect(p pgURL, appName string) (*pgConn, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pc, err := pgConnectOnce(p, appName)
		if err == nil || !strings.Contains(err.Error(), "SQLSTATE 53300") || time.Now().After(deadline) {
			return pc, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func pgConnectOnce(p pgURL, appName string) (*pgConn, error) {
	c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	pc := &pgConn{c: c, r: bufio.NewReaderSize(c, 32<<10)}
	if err := pc.startup(p, appName); err != nil {
		c.Close()
		return nil, fmt.Errorf("postgres %s/%s: %w", p.addr, p.db, err)
	}
	return pc, nil
}

func (pc *pgConn) Close() error { return pc.c.Close() }

func (pc *pgConn) startup(p pgURL, appName string) error {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint32(b, 3<<16)
	for _, kv := range [][2]string{{"user", p.user}, {"database", p.db}, {"application_name", appName}} {
		b = append(append(append(append(b, kv[0]...), 0), kv[1]...), 0)
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	if _, err := pc.c.Write(b); err != nil {
		return err
	}
	for {
		typ, body, err := pc.next()
		if err != nil {
			return err
		}
		switch typ {
		case 'R':
			switch code := binary.BigEndian.Uint32(body); code {
			case 0:
			case 3:
				if err := pc.send('p', append([]byte(p.password), 0)); err != nil {
					return err
				}
			case 5:
				h := md5.Sum([]byte(p.password + p.user))                           //nolint:gosec
				h = md5.Sum(append([]byte(hex.EncodeToString(h[:])), body[4:8]...)) //nolint:gosec
				if err := pc.send('p', append([]byte("md5"+hex.EncodeToString(h[:])), 0)); err != nil {
					return err
				}
			default:
				return fmt.Errorf("authentication method %d not supported by the bench client (use trust, password or md5 for a local server)", code)
			}
		case 'E':
			return pgError(body)
		case 'Z':
			return nil
		}
	}
}

// send writes one message.
func (pc *pgConn) send(typ byte, body []byte) error {
	pc.buf = append(pc.buf[:0], typ, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(pc.buf[1:], uint32(4+len(body)))
	pc.buf = append(pc.buf, body...)
	_, err := pc.c.Write(pc.buf)
	return err
}

// next reads one message; its body is valid until the next call.
func (pc *pgConn) next() (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(pc.r, head[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(head[1:])) - 4
	if n < 0 || n > 64<<20 {
		return 0, nil, fmt.Errorf("bad message length %d", n)
	}
	if cap(pc.buf) < n {
		pc.buf = make([]byte, n)
	}
	body := pc.buf[:n]
	_, err := io.ReadFull(pc.r, body)
	return head[0], body, err
}

// exec sends sql as one simple-protocol message and reads the answer up to
// ReadyForQuery; it returns the number of data rows and the first error
// the server reported.
func (pc *pgConn) exec(sql string) (rows int, err error) {
	_, rows, err = pc.query(sql, false)
	return rows, err
}

// query is exec that also returns the rows' text values when keep is set.
func (pc *pgConn) query(sql string, keep bool) (out [][]string, rows int, err error) {
	pc.buf = append(pc.buf[:0], 'Q', 0, 0, 0, 0)
	binary.BigEndian.PutUint32(pc.buf[1:], uint32(4+len(sql)+1))
	pc.buf = append(append(pc.buf, sql...), 0)
	if _, err := pc.c.Write(pc.buf); err != nil {
		return nil, 0, err
	}
	var qerr error
	for {
		typ, body, err := pc.next()
		if err != nil {
			return nil, rows, err
		}
		switch typ {
		case 'D':
			rows++
			if keep {
				out = append(out, dataRow(body))
			}
		case 'E':
			if qerr == nil {
				qerr = pgError(body)
			}
		case 'Z':
			return out, rows, qerr
		}
	}
}

// queryOne returns the first column of the first row of sql.
func (pc *pgConn) queryOne(sql string) (string, error) {
	rows, _, err := pc.query(sql, true)
	if err != nil {
		return "", err
	}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return "", fmt.Errorf("no row from %q", sql)
	}
	return rows[0][0], nil
}

func dataRow(b []byte) []string {
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	vals := make([]string, n)
	for i := range n {
		l := int32(binary.BigEndian.Uint32(b))
		b = b[4:]
		if l >= 0 {
			vals[i] = string(b[:l])
			b = b[l:]
		}
	}
	return vals
}

func pgError(b []byte) error {
	var msg, code string
	for len(b) > 1 {
		typ := b[0]
		end := strings.IndexByte(string(b[1:]), 0)
		if end < 0 {
			break
		}
		v := string(b[1 : 1+end])
		b = b[2+end:]
		switch typ {
		case 'M':
			msg = v
		case 'C':
			code = v
		}
	}
	return errors.New("postgres: " + msg + " (SQLSTATE " + code + ")")
}

// quoteLiteral quotes s as a standard-conforming SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteIdent quotes s as an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
