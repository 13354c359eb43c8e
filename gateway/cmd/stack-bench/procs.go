package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a server binary started by the bench: the gateway or the tasks
// service, each as its cmd/ main runs it, configured by environment.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// startProc runs bin with env (plus PATH and HOME only) and waits for the
// JSON log line whose msg is listenMsg; its "addr" is the process's
// address. The rest of its output is read and discarded.
func startProc(name, bin string, env []string, listenMsg string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
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
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	found := make(chan string, 1)
	var tail []string
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == listenMsg && line.Addr != "" {
				found <- line.Addr
				break
			}
			if len(tail) < 40 {
				tail = append(tail, sc.Text())
			}
		}
		close(found)
		_, _ = io.Copy(io.Discard, r)
		r.Close()
	}()
	select {
	case addr, ok := <-found:
		if ok {
			p.addr = addr
			return p, nil
		}
		<-p.done
		return nil, fmt.Errorf("%s exited before listening:\n%s", name, strings.Join(tail, "\n"))
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s did not log %q within 30s", name, listenMsg)
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

// parentOf is the parent pid of pid.
func parentOf(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// program is a labelled path to an executable.
type program struct{ label, path string }

// parseBinaries parses "[label=]path,[label=]path".
func parseBinaries(flagName, s string) ([]program, error) {
	var out []program
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		label, path, ok := strings.Cut(part, "=")
		if !ok {
			path = label
			label = filepath.Base(path)
		}
		if st, err := os.Stat(path); err != nil || st.IsDir() {
			return nil, fmt.Errorf("-%s: %q is not an executable file", flagName, path)
		}
		out = append(out, program{label: label, path: path})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s: no binary given", flagName)
	}
	return out, nil
}
