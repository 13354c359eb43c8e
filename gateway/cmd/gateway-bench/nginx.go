package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// nginxSummary describes the nginx peer's configuration in the output.
const nginxSummary = "2 workers, keep-alive pool of -conns to the upstream, access log buffered to a file, no auth"

// nginxConf is a plain nginx reverse proxy to the bench's upstream: as
// many workers as the machine's 2 cores, HTTP/1.1 keep-alive connections
// to the upstream, the default combined access log (buffered, as the
// gateway's is), and keep-alive limits high enough that neither side
// closes a connection during the run (the gateway closes none either).
// Every path nginx writes is in dir, so it runs as the current user.
const nginxConf = `worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
	access_log %[1]s/access.log combined buffer=64k flush=100ms;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	keepalive_requests 100000000;
	upstream bench_upstream {
		server %[2]s;
		keepalive %[4]d;
		keepalive_requests 100000000;
	}
	server {
		listen %[3]s;
		location / {
			proxy_pass http://bench_upstream;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
`

// startNginx starts nginx as a reverse proxy to upstream, or returns nil
// when bin is empty or not installed: the bench is not CI, so a missing
// nginx skips the peer rather than failing the run.
func startNginx(bin, upstream string, conns int) (*child, error) {
	if bin == "" {
		return nil, nil
	}
	if _, err := exec.LookPath(bin); err != nil {
		return nil, nil
	}
	dir, err := os.MkdirTemp("", "gateway-bench-nginx-")
	if err != nil {
		return nil, err
	}
	// nginx cannot announce a port it chose: take a free one and hand it
	// over (another process could take it meanwhile; the start then fails).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, upstream, addr, conns), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf, "-g", "daemon off; master_process on;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &child{name: "nginx", cmd: cmd, addr: addr, cleanup: func() { os.RemoveAll(dir) }}
	for end := time.Now().Add(10 * time.Second); ; {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return c, nil
		}
		if time.Now().After(end) {
			c.stop()
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return nil, fmt.Errorf("nginx never listened on %s: %s", addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childPids lists the processes whose parent is pid (nginx's workers).
func childPids(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name: state, ppid, ...
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			pids = append(pids, p)
		}
	}
	return pids
}
