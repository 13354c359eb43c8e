package postgres

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// ConnConfig is a parsed connection string, ready for pgdriver. Parameters
// that only libpq understands are consumed here: pgdriver would otherwise
// send each unknown parameter to the server as a session SET, which a
// transaction-mode pooler (Neon's -pooler endpoint, PgBouncer) cannot keep.
type ConnConfig struct {
	Addr        string // host:port
	Host        string // also the TLS server name (SNI), which Neon routes on
	User        string
	password    string
	Database    string
	AppName     string
	TLS         *tls.Config // nil: plaintext
	DialTimeout time.Duration
	// tlsMode is the sslmode in effect, for String: "" for plaintext,
	// bindByVerifying when channel_binding made it stricter than the URL's.
	tlsMode string
}

// bindByVerifying explains why channel_binding=require verifies the
// server's certificate. libpq's channel_binding=require insists on
// SCRAM-SHA-256-PLUS, which proves that the server at the other end of the
// TLS channel is the one that knows the password's verifier: a man in the
// middle (possible under sslmode=require, which accepts any certificate)
// can neither relay the login nor ask for the password in clear text.
// pgdriver cannot do SCRAM-SHA-256-PLUS, and it would answer a cleartext or
// MD5 password request. Verifying the certificate chain and host name
// (verify-full) stops the same man in the middle before any credential is
// sent, so that is what channel_binding=require means here; the URL as
// Neon's console writes it connects, since Neon's certificates are
// publicly trusted.
const bindByVerifying = "verify-full for channel_binding=require"

// libpqOnly are parameters that make sense to libpq but not to pgdriver and
// carry no meaning the service needs; they are dropped instead of becoming SET.
var libpqOnly = map[string]bool{
	"target_session_attrs": true, "gssencmode": true, "sslnegotiation": true, "sslcompression": true,
	"keepalives": true, "keepalives_idle": true, "keepalives_interval": true, "keepalives_count": true,
	"krbsrvname": true, "gsslib": true, "requirepeer": true, "ssl_min_protocol_version": true,
	"ssl_max_protocol_version": true, "sslcrl": true, "sslcrldir": true, "sslsni": true,
	"load_balance_hosts": true, "passfile": true, "fallback_application_name": true,
	"hostaddr": false, "service": false, // rejected below: they change where we connect
}

// ParseDSN parses a postgres:// URL as the Neon console, Heroku or libpq
// users write it. sslmode disable/allow/prefer connect in plaintext (pgdriver
// cannot fall back), require encrypts without verifying the certificate,
// verify-ca verifies the chain, verify-full also the host name; every TLS
// mode sends SNI. channel_binding=require demands TLS and, because pgdriver
// cannot bind SCRAM to the TLS channel (it has no SCRAM-SHA-256-PLUS),
// turns require and verify-ca into verify-full: see bindByVerifying. Neon's
// options=endpoint=... is redundant with SNI and dropped; any other options,
// and unknown parameters, are errors. Errors never contain the password.
func ParseDSN(dsn string) (ConnConfig, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return ConnConfig{}, errors.New("not a URL (want postgres://user:password@host:5432/db?sslmode=require)")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return ConnConfig{}, fmt.Errorf("scheme %q is not postgres:// or postgresql://", u.Scheme)
	}
	if u.Host == "" {
		return ConnConfig{}, errors.New("no host (want postgres://user:password@host:5432/db)")
	}
	if strings.Contains(u.Host, ",") {
		return ConnConfig{}, errors.New("several hosts are not supported")
	}
	c := ConnConfig{DialTimeout: 10 * time.Second}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return ConnConfig{}, fmt.Errorf("port %q is not a number", port)
	}
	c.Host, c.Addr = host, net.JoinHostPort(host, port)
	c.Database = strings.TrimPrefix(u.Path, "/")
	if c.Database == "" || strings.Contains(c.Database, "/") {
		return ConnConfig{}, errors.New("no database name in the path (want .../dbname)")
	}
	if u.User == nil || u.User.Username() == "" {
		return ConnConfig{}, errors.New("no user name (want postgres://user:password@host/db)")
	}
	c.User = u.User.Username()
	c.password, _ = u.User.Password()

	q := u.Query()
	take := func(name string) string {
		v := q.Get(name)
		q.Del(name)
		return v
	}
	c.AppName = take("application_name")
	if s := take("connect_timeout"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return ConnConfig{}, fmt.Errorf("connect_timeout=%q is not a whole number of seconds", s)
		}
		if n > 0 {
			c.DialTimeout = time.Duration(n) * time.Second
		}
	}

	mode := take("sslmode")
	rootCert := take("sslrootcert")
	cert, key := take("sslcert"), take("sslkey")
	if rootCert != "" && mode == "require" {
		mode = "verify-ca" // libpq: require with a root certificate means verify-ca
	}
	bindingVerifies := false
	switch cb := take("channel_binding"); cb {
	case "", "disable", "prefer":
	case "require":
		if mode != "require" && mode != "verify-ca" && mode != "verify-full" {
			return ConnConfig{}, errors.New("channel_binding=require needs sslmode=require, verify-ca or verify-full")
		}
		bindingVerifies = mode != "verify-full"
		mode = "verify-full"
	default:
		return ConnConfig{}, fmt.Errorf("channel_binding=%q is not one of disable, prefer, require", cb)
	}
	switch mode {
	case "", "disable", "allow", "prefer":
		if rootCert != "" {
			return ConnConfig{}, fmt.Errorf("sslrootcert needs sslmode=verify-full (got sslmode=%q)", mode)
		}
	case "require":
		c.TLS = &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // libpq "require" does not verify
	case "verify-ca", "verify-full":
		c.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	default:
		return ConnConfig{}, fmt.Errorf("sslmode=%q is not one of disable, allow, prefer, require, verify-ca, verify-full", mode)
	}
	if c.TLS != nil && rootCert != "" && rootCert != "system" {
		pem, err := os.ReadFile(rootCert)
		if err != nil {
			return ConnConfig{}, fmt.Errorf("sslrootcert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return ConnConfig{}, fmt.Errorf("sslrootcert %s holds no PEM certificate", rootCert)
		}
		c.TLS.RootCAs = pool
	}
	if mode == "verify-ca" {
		verifyChainOnly(c.TLS)
	}
	switch {
	case c.TLS == nil:
	case bindingVerifies:
		c.tlsMode = bindByVerifying
	default:
		c.tlsMode = mode
	}
	if c.TLS != nil && (cert != "") != (key != "") {
		return ConnConfig{}, errors.New("sslcert and sslkey go together")
	}
	if c.TLS != nil && cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return ConnConfig{}, fmt.Errorf("sslcert/sslkey: %v", err)
		}
		c.TLS.Certificates = []tls.Certificate{pair}
	}

	if opt := take("options"); opt != "" {
		// Neon's SNI-less fallback: "endpoint=ep-xyz". We send SNI instead.
		if !strings.HasPrefix(strings.TrimSpace(opt), "endpoint=") || strings.ContainsAny(opt, " \t") {
			return ConnConfig{}, errors.New("options=... would set session state, which poolers cannot keep; only Neon's endpoint=... is accepted")
		}
	}
	for name := range q {
		if keep, known := libpqOnly[name]; known && keep {
			continue
		}
		return ConnConfig{}, fmt.Errorf("parameter %q is not supported", name)
	}
	return c, nil
}

// verifyChainOnly makes cfg check the certificate chain but not the host
// name, which is what libpq's verify-ca means.
func verifyChainOnly(cfg *tls.Config) {
	roots := cfg.RootCAs
	cfg.InsecureSkipVerify = true //nolint:gosec // replaced by VerifyPeerCertificate below
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("server sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, b := range raw {
			c, err := x509.ParseCertificate(b)
			if err != nil {
				return err
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		return err
	}
}

// Options returns the pgdriver options for c. No parameter becomes a SET.
func (c ConnConfig) Options() []pgdriver.Option {
	opts := []pgdriver.Option{
		pgdriver.WithNetwork("tcp"),
		pgdriver.WithAddr(c.Addr),
		pgdriver.WithUser(c.User),
		pgdriver.WithPassword(c.password),
		pgdriver.WithDatabase(c.Database),
		pgdriver.WithTLSConfig(c.TLS),
		pgdriver.WithDialTimeout(c.DialTimeout),
		// A page of 20 tasks (~6 KiB of rows) is read in one system call,
		// not two as with pgdriver's 4 KiB.
		pgdriver.WithBufferSize(32 << 10),
	}
	if c.AppName != "" {
		opts = append(opts, pgdriver.WithApplicationName(c.AppName))
	}
	return opts
}

// String is the connection string without its password, for logs.
func (c ConnConfig) String() string {
	tlsMode := c.tlsMode
	if tlsMode == "" {
		tlsMode = "off"
	}
	return fmt.Sprintf("postgres://%s@%s/%s (tls %s)", c.User, c.Addr, c.Database, tlsMode)
}
