package postgres

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDSN(t *testing.T) {
	neon := "postgresql://alex:AbC1dEf2@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/neondb?sslmode=require&channel_binding=require"
	cases := []struct {
		desc    string
		dsn     string
		wantErr string // substring; "" = valid
		check   func(t *testing.T, c ConnConfig)
	}{
		{"neon console URL", neon, "", func(t *testing.T, c ConnConfig) {
			if c.TLS == nil || c.TLS.ServerName != "ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech" {
				t.Errorf("TLS %+v: want SNI = the host", c.TLS)
			}
			if c.Addr != "ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech:5432" || c.User != "alex" || c.password != "AbC1dEf2" || c.Database != "neondb" {
				t.Errorf("parsed %+v", c)
			}
		}},
		{"verify-full verifies", "postgres://u:p@db.example.com:6543/app?sslmode=verify-full", "", func(t *testing.T, c ConnConfig) {
			if c.TLS == nil || c.TLS.InsecureSkipVerify || c.TLS.ServerName != "db.example.com" || c.Addr != "db.example.com:6543" {
				t.Errorf("TLS %+v", c.TLS)
			}
		}},
		{"neon endpoint option dropped", neon + "&options=endpoint%3Dep-cool-darkness-123456", "", nil},
		{"libpq-only params dropped", neon + "&target_session_attrs=read-write&keepalives=1&connect_timeout=15", "", func(t *testing.T, c ConnConfig) {
			if c.DialTimeout != 15*time.Second {
				t.Errorf("connect_timeout → %v", c.DialTimeout)
			}
		}},
		{"local plaintext", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "", func(t *testing.T, c ConnConfig) {
			if c.TLS != nil {
				t.Error("sslmode=disable must not use TLS")
			}
		}},
		{"IPv6 host", "postgres://u@[::1]:5432/db?sslmode=require", "", func(t *testing.T, c ConnConfig) {
			if c.Addr != "[::1]:5432" || c.TLS.ServerName != "::1" {
				t.Errorf("addr %q sni %q", c.Addr, c.TLS.ServerName)
			}
		}},
		{"session options refused", neon + "&options=-c%20search_path%3Devil", "options", nil},
		{"unknown parameter refused", neon + "&search_path=public", `"search_path"`, nil},
		{"channel binding needs TLS", "postgres://u:p@h/db?channel_binding=require", "channel_binding", nil},
		{"channel binding verifies the server", neon, "", func(t *testing.T, c ConnConfig) {
			if c.TLS == nil || c.TLS.InsecureSkipVerify || c.TLS.VerifyPeerCertificate != nil {
				t.Fatalf("TLS %v: channel_binding=require must verify chain and host name", tlsVerification(c.TLS))
			}
			if !strings.Contains(c.String(), "verify-full for channel_binding=require") {
				t.Errorf("String() = %s: want the reason for verify-full", c)
			}
		}},
		{"channel binding with a root certificate checks the host too", "postgres://u@h/db?sslmode=require&sslrootcert=system&channel_binding=require", "", func(t *testing.T, c ConnConfig) {
			if c.TLS == nil || c.TLS.InsecureSkipVerify || c.TLS.VerifyPeerCertificate != nil {
				t.Errorf("TLS %v: want verify-full, not verify-ca", tlsVerification(c.TLS))
			}
		}},
		{"require alone does not verify", "postgres://u@h/db?sslmode=require&channel_binding=prefer", "", func(t *testing.T, c ConnConfig) {
			if c.TLS == nil || !c.TLS.InsecureSkipVerify || !strings.Contains(c.String(), "(tls require)") {
				t.Errorf("TLS %v, %s: libpq's require encrypts without verifying", tlsVerification(c.TLS), c)
			}
		}},
		{"bad sslmode", "postgres://u:p@h/db?sslmode=maybe", "sslmode", nil},
		{"not postgres", "mysql://u:p@h/db", "scheme", nil},
		{"no database", "postgres://u:p@h", "database", nil},
		{"no user", "postgres://h/db", "user", nil},
		{"bad port", "postgres://u@h:99999/db", "port", nil},
		{"several hosts", "postgres://u@h1,h2/db", "several hosts", nil},
		{"missing root cert", "postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent.pem", "sslrootcert", nil},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			got, err := ParseDSN(c.dsn)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if c.check != nil {
					c.check(t, got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, c.wantErr)
			}
		})
	}
}

// TestErrorsHideThePassword: no parse error repeats the password.
func TestErrorsHideThePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:s3cretpw@h/db?bogus=1", "postgres://u:s3cretpw@h:x/db", "postgres://u:s3cretpw@h/db?sslmode=nope", "postgres://u:s3cretpw@h",
	} {
		_, err := ParseDSN(dsn)
		if err == nil || strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("%q: %v", dsn, err)
		}
	}
	c, _ := ParseDSN("postgres://u:s3cretpw@h/db")
	if strings.Contains(c.String(), "s3cretpw") {
		t.Errorf("String() leaks the password: %s", c)
	}
}

// TestTLSSendsSNI: with sslmode=require the driver upgrades to TLS and
// names the host in the ClientHello — what Neon routes on.
func TestTLSSendsSNI(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cert := selfSigned(t)
	gotSNI := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 8) // SSLRequest
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		_, _ = c.Write([]byte("S"))
		srv := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			gotSNI <- h.ServerName
			return nil, nil
		}})
		_ = srv.Handshake()
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cc, err := ParseDSN("postgres://u:p@localhost:" + port + "/db?sslmode=require&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	db, err := Connect(ctx, cc, PoolOptions{MaxOpen: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		db.Close()
		t.Fatal("connected to a server that never spoke Postgres")
	}
	select {
	case sni := <-gotSNI:
		if sni != "localhost" {
			t.Errorf("SNI %q, want localhost", sni)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no TLS ClientHello")
	}
}

// TestConnectRetriesUntilDeadline: nothing listening → Connect keeps
// trying with backoff, then fails naming the database, not the password.
func TestConnectRetriesUntilDeadline(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cc, _ := ParseDSN("postgres://u:pw123456@" + addr + "/db?sslmode=disable")
	var logs strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Connect(ctx, cc, PoolOptions{}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err == nil || strings.Contains(err.Error(), "pw123456") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %v", err)
	}
	if time.Since(start) < time.Second {
		t.Errorf("gave up after %v, before the deadline", time.Since(start))
	}
	if n := strings.Count(logs.String(), "not reachable yet"); n < 2 {
		t.Errorf("%d attempts logged, want retries", n)
	}
}

// TestChannelBindingRequireStopsAManInTheMiddle: a server with a
// certificate nobody issued asks for the password in clear text, as a man
// in the middle of a Neon URL's sslmode=require could. With
// channel_binding=require (the console's URL) the driver refuses the
// certificate and sends nothing; with sslmode=require alone it hands the
// password over (what libpq's channel binding exists to prevent). With the
// certificate trusted through sslrootcert, channel_binding=require still
// checks the host name that verify-ca alone would not, and a server with
// the right name gets the login.
func TestChannelBindingRequireStopsAManInTheMiddle(t *testing.T) {
	cert := selfSigned(t)
	trusted := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(trusted, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		host     string // the certificate names localhost, not 127.0.0.1
		params   string
		stolen   bool
		errorHas string
	}{
		{"require: any certificate", "localhost", "sslmode=require", true, ""},
		{"channel binding: unknown issuer refused", "localhost", "sslmode=require&channel_binding=require", false, "certificate"},
		{"verify-ca: host name not checked", "127.0.0.1", "sslmode=verify-ca&sslrootcert=" + trusted, true, ""},
		{"channel binding: host name checked", "127.0.0.1", "sslmode=verify-ca&sslrootcert=" + trusted + "&channel_binding=require", false, "certificate"},
		{"channel binding: trusted server logs in", "localhost", "sslmode=verify-ca&sslrootcert=" + trusted + "&channel_binding=require", true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			port, password := passwordThief(t, cert)
			cc, err := ParseDSN("postgres://u:s3cret@" + c.host + ":" + port + "/db?connect_timeout=2&" + c.params)
			if err != nil {
				t.Fatal(err)
			}
			// Connect retries until its context ends. A refusal sends nothing,
			// ever, so half a second shows it; a login that hands the password
			// over may take longer on a loaded machine, and ends the wait.
			wait := 500 * time.Millisecond
			if c.stolen {
				wait = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			var got string // the password the server received; "" for none
			done := make(chan struct{})
			go func() {
				defer close(done)
				select {
				case got = <-password:
					cancel()
				case <-ctx.Done():
				}
			}()
			db, err := Connect(ctx, cc, PoolOptions{MaxOpen: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				db.Close()
				t.Fatal("connected to a server that never finished a login")
			}
			cancel()
			<-done
			if c.errorHas != "" && !strings.Contains(err.Error(), c.errorHas) {
				t.Errorf("error %v, want one naming the %s", err, c.errorHas)
			}
			switch {
			case got != "" && !c.stolen:
				t.Fatalf("password %q sent to an unverified server", got)
			case got != "" && got != "s3cret":
				t.Errorf("server got %q", got)
			case got == "" && c.stolen:
				t.Fatal("no password reached the server: the test did not exercise a login")
			}
		})
	}
}

// passwordThief listens on 127.0.0.1, accepts the Postgres TLS request
// with cert, asks each client for its password in clear text and reports it.
func passwordThief(t *testing.T, cert tls.Certificate) (port string, password <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 16)
	go func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer raw.Close()
				_ = raw.SetDeadline(time.Now().Add(2 * time.Second))
				sslRequest := make([]byte, 8)
				if _, err := io.ReadFull(raw, sslRequest); err != nil {
					return
				}
				_, _ = raw.Write([]byte("S"))
				c := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{cert}})
				var n [4]byte
				if _, err := io.ReadFull(c, n[:]); err != nil { // startup message
					return
				}
				if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(n[:]))-4); err != nil {
					return
				}
				_, _ = c.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3}) // AuthenticationCleartextPassword
				var head [5]byte
				if _, err := io.ReadFull(c, head[:]); err != nil || head[0] != 'p' {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint32(head[1:])-4)
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				got <- strings.TrimRight(string(msg), "\x00")
			}()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, got
}

// tlsVerification describes how cfg checks the server, for test failures.
func tlsVerification(cfg *tls.Config) string {
	if cfg == nil {
		return "off"
	}
	return fmt.Sprintf("InsecureSkipVerify=%v own verifier=%v", cfg.InsecureSkipVerify, cfg.VerifyPeerCertificate != nil)
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
