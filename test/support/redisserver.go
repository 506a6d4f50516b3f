package support

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a private redis-server for tests that hang, kill or empty
// Redis: it listens on a free port of 127.0.0.1, keeps nothing on disk,
// and is killed at the end of the test.
type Redis struct {
	t    testing.TB
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd is reaped
}

// StartRedis starts a private redis-server, skipping the test when none is
// installed.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	s := &Redis{t: t}
	var err error
	for i := 0; i < 5; i++ { // a free port may be taken before the server binds it
		if s.port, err = freePort(); err == nil {
			if err = s.start(); err == nil {
				break
			}
		}
	}
	if err != nil {
		t.Fatal("support:", err)
	}
	t.Cleanup(s.Kill)
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs redis-server on s.port and waits until it answers.
func (s *Redis) start() error {
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on port %d exited", s.port)
		default:
		}
		if c.Ping(context.Background()).Err() == nil {
			s.mu.Lock()
			s.cmd, s.exited = cmd, exited
			s.mu.Unlock()
			return nil
		}
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("redis-server on port %d did not answer", s.port)
}

// Addr returns host:port.
func (s *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL returns the server's redis:// URL.
func (s *Redis) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a client of the server with the timeouts a service should
// set (the context's deadline honoured, short read and write timeouts, no
// retries), closed at the end of the test.
func (s *Redis) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Pause stops the process (SIGSTOP): connections are accepted by the
// kernel but nothing is answered, as with a hung Redis.
//
// It returns once the process is stopped: a signal is delivered
// asynchronously, and a command sent right after kill(2) could still be
// served.
func (s *Redis) Pause() {
	s.signal(syscall.SIGSTOP)
	s.mu.Lock()
	pid := 0
	if s.cmd != nil {
		pid = s.cmd.Process.Pid
	}
	s.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); pid != 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return // not Linux, or gone
		}
		// The state follows the command name in parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'T' {
			return
		}
	}
}

// Resume continues a paused server (SIGCONT).
func (s *Redis) Resume() { s.signal(syscall.SIGCONT) }

func (s *Redis) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Errorf("support: %v: %v", sig, err)
	}
}

// Kill kills the server; Restart brings it back.
func (s *Redis) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill() // SIGKILL ends a stopped process too
	<-exited
}

// Restart kills the server and starts a new one, empty, on the same port.
func (s *Redis) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	for i := 0; i < 50; i++ { // the port may linger a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatal("support: restart:", err)
}
