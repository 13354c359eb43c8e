package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// proc is a server binary started by the bench: the gateway or the tasks
// service, each as its cmd/ main runs it, configured by environment.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// startProc runs bin with env (plus PATH and HOME only) listening on a
// free port of 127.0.0.1, which it is given in the variable addrVar, and
// waits until GET readyPath answers 200. Its output is read and
// discarded, but for the last lines, shown if it fails to start.
func startProc(name, bin, addrVar, readyPath string, env []string) (*proc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), addrVar + "=" + addr}, env...)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	w.Close()
	p := &proc{name: name, cmd: cmd, addr: addr, done: make(chan struct{})}
	var mu sync.Mutex
	var tail []string
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			mu.Lock()
			if tail = append(tail, sc.Text()); len(tail) > 20 {
				tail = tail[1:]
			}
			mu.Unlock()
		}
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			time.Sleep(100 * time.Millisecond) // the last lines
			mu.Lock()
			defer mu.Unlock()
			return nil, fmt.Errorf("%s exited before it was ready:\n%s", name, strings.Join(tail, "\n"))
		default:
		}
		if code, _, err := fasthttp.Get(nil, "http://"+addr+readyPath); err == nil && code == 200 {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s not ready at %s%s after 30s", name, addr, readyPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and kills after a second: the drain of kept-alive
// connections that SIGTERM starts is not what the bench measures.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// statFields returns the fields of /proc/PID/stat after the command name.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 > len(b) {
		return nil
	}
	return strings.Fields(string(b[i+2:]))
}

// ticks converts clock ticks (USER_HZ, 100 on Linux) to a duration.
func ticks(s string) time.Duration {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Duration(n) * time.Second / 100
}

// cpuOf is the user+system CPU time of pid so far.
func cpuOf(pid int) time.Duration {
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	return ticks(f[11]) + ticks(f[12])
}

// cpuOfTree is the CPU time of the Postgres server whose postmaster is
// pid: its own, its live children's (backends and background workers), and
// that of the children it has reaped (cutime, cstime), so that a backend
// which exits during a measurement is still counted. Other clients'
// backends on the same server are counted too.
func cpuOfTree(pid int) time.Duration {
	f := statFields(pid)
	if len(f) < 15 {
		return 0
	}
	total := ticks(f[11]) + ticks(f[12]) + ticks(f[13]) + ticks(f[14])
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cf := statFields(child)
		if len(cf) >= 13 && cf[1] == strconv.Itoa(pid) {
			total += ticks(cf[11]) + ticks(cf[12])
		}
	}
	return total
}

// syscallsOf is the number of read and write system calls pid has made
// (syscr and syscw of /proc/PID/io): those of the read and write families,
// sockets included.
func syscallsOf(pid int) (reads, writes int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			reads, _ = strconv.ParseInt(v, 10, 64)
		} else if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			writes, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return reads, writes
}

// parentOf is the parent pid of pid.
func parentOf(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// program is a labelled path to an executable, with environment settings
// of its own on top of those the bench gives it.
type program struct {
	label, path string
	env         []string
}

// parseBinaries parses "[label=]path[@NAME=value...],...": for example
// "old=/tmp/tasks-service,gogc=/tmp/tasks-service@GOGC=400" runs the same
// binary twice, once with GOGC=400.
func parseBinaries(flagName, s string) ([]program, error) {
	var out []program
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		spec := strings.Split(part, "@")
		label, path, ok := strings.Cut(spec[0], "=")
		if !ok {
			path = label
			label = filepath.Base(path)
		}
		env := spec[1:]
		for _, e := range env {
			if !strings.Contains(e, "=") {
				return nil, fmt.Errorf("-%s: %q is not NAME=value", flagName, e)
			}
		}
		if st, err := os.Stat(path); err != nil || st.IsDir() {
			return nil, fmt.Errorf("-%s: %q is not an executable file", flagName, path)
		}
		out = append(out, program{label: label, path: path, env: env})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s: no binary given", flagName)
	}
	return out, nil
}
