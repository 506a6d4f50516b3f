package chaos

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Settings every node shares. The connection limit is raised because the
// suites open hundreds of connections from one address on purpose.
const (
	jwtSecret = "chaos-secret-chaos-secret-chaos-secret"
	apiKey    = "chaos-api-key"
)

var (
	workDir   string // the suite's temporary directory
	heraldBin string // the herald binary, built once

	pgOnce sync.Once
	pgSrv  *postgres
	pgErr  error
)

func TestMain(m *testing.M) {
	if os.Getenv("HERALD_CHAOS") != "1" {
		os.Exit(m.Run()) // every test skips
	}
	code := func() int {
		var err error
		if workDir, err = os.MkdirTemp("", "herald-chaos-"); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 1
		}
		defer os.RemoveAll(workDir)
		// PostgreSQL runs as another user and must reach its directory.
		_ = os.Chmod(workDir, 0o755)
		if heraldBin = os.Getenv("HERALD_CHAOS_BIN"); heraldBin != "" {
			// A binary built elsewhere, e.g. from another revision.
		} else if heraldBin, err = buildHerald(workDir); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: build herald:", err)
			return 1
		}
		defer func() {
			if pgSrv != nil {
				pgSrv.proc.kill()
			}
		}()
		return m.Run()
	}()
	os.Exit(code)
}

// requireChaos skips t unless the heavy suites were asked for.
func requireChaos(t *testing.T) {
	t.Helper()
	if os.Getenv("HERALD_CHAOS") != "1" {
		t.Skip("chaos and abuse suites: set HERALD_CHAOS=1 to run them")
	}
}

// buildHerald builds ./cmd/herald from the module root into dir.
func buildHerald(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "herald")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/herald")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("chaos: no go.mod above the working directory")
		}
		dir = parent
	}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a child process in its own process group, killed with it when
// the test binary dies (Pdeathsig) or at cleanup.
type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

func startProc(t testing.TB, name, logPath string, env []string, cred *syscall.Credential, argv ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p
}

// signal sends sig to the process group.
func (p *proc) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// kill kills the group (continuing it first, so a stopped one dies) and
// waits for the process.
func (p *proc) kill() {
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// showLogOnFailure prints the tail of the log at the end of a failed test.
func showLogOnFailure(t testing.TB, name, path string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("--- last lines of %s (%s):\n%s", name, path, strings.Join(lines, "\n"))
	})
}

// redisServer is the test's own Redis, which it may kill, stop or empty.
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	proc *proc
	n    int // starts, to name the logs
}

func startRedis(t testing.TB) *redisServer {
	t.Helper()
	r := &redisServer{t: t, port: freePort(t), dir: t.TempDir()}
	r.start()
	t.Cleanup(func() { r.proc.kill() })
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	r.n++
	log := filepath.Join(r.dir, fmt.Sprintf("redis-%d.log", r.n))
	showLogOnFailure(r.t, "redis", log)
	r.proc = startProc(r.t, "redis", log, os.Environ(), nil, "/usr/bin/redis-server",
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", r.dir)
	waitFor(r.t, 10*time.Second, "redis answers", func() bool { return r.do("PING") == "+PONG" })
}

// restart kills Redis (SIGKILL: nothing saved) and starts it empty on the
// same port after down.
func (r *redisServer) restart(down time.Duration) {
	r.t.Helper()
	r.proc.kill()
	time.Sleep(down)
	r.start()
}

// do sends one inline command and returns the first line of the answer.
func (r *redisServer) do(cmd string) string {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, cmd+"\r\n"); err != nil {
		return ""
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

// postgres is the suite's own PostgreSQL; each test gets a database.
type postgres struct {
	port int
	dir  string
	cred *syscall.Credential
	proc *proc
	n    int
}

// suitePostgres starts the suite's PostgreSQL once, at first need.
func suitePostgres(t testing.TB) *postgres {
	t.Helper()
	pgOnce.Do(func() { pgSrv, pgErr = initPostgres() })
	if pgErr != nil {
		t.Fatal("postgres:", pgErr)
	}
	return pgSrv
}

const pgBin = "/usr/lib/postgresql/15/bin/"

func initPostgres() (*postgres, error) {
	p := &postgres{dir: filepath.Join(workDir, "pg")}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 { // PostgreSQL refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(p.dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(p.dir, "data")
	initdb := exec.Command(pgBin+"initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := p.start(); err != nil {
		return nil, err
	}
	return p, nil
}

// start runs the postmaster and waits until it accepts connections.
func (p *postgres) start() error {
	p.n++
	log := filepath.Join(p.dir, fmt.Sprintf("postgres-%d.log", p.n))
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(pgBin+"postgres", "-D", filepath.Join(p.dir, "data"), "-p", strconv.Itoa(p.port),
		"-k", p.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.cred}
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	p.proc = &proc{name: "postgres", log: log, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.proc.done)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, p.url("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("postgres did not start; see " + log)
}

// restart stops the server at once (SIGQUIT: immediate shutdown), keeps
// it down for down, and starts it again with the same data.
func (p *postgres) restart(t testing.TB, down time.Duration) {
	t.Helper()
	p.signalAll(syscall.SIGCONT)
	_ = p.proc.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.proc.done:
	case <-time.After(10 * time.Second):
		p.proc.kill()
	}
	time.Sleep(down)
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
}

// signalAll sends sig to the postmaster and every process it forked:
// each backend runs in a session of its own (setsid), so a signal to the
// postmaster's group would miss them.
func (p *postgres) signalAll(sig syscall.Signal) {
	pids := append(childrenOf(p.proc.pid()), p.proc.pid())
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

func (p *postgres) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// database creates a fresh database for t and returns its URL.
func (p *postgres) database(t testing.TB) string {
	t.Helper()
	name := "chaos_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "create database "+name); err != nil {
		t.Fatal(err)
	}
	return p.url(name)
}

// node is one herald process.
type node struct {
	t    testing.TB
	name string
	port int
	env  []string
	dir  string
	proc *proc
	n    int
}

// startNode runs herald with the suite's secrets and the given HERALD_*
// settings, and waits until /healthz answers.
func startNode(t testing.TB, name string, settings map[string]string) *node {
	t.Helper()
	n := &node{t: t, name: name, port: freePort(t), dir: t.TempDir()}
	env := map[string]string{
		"HERALD_ADDR":                   fmt.Sprintf("127.0.0.1:%d", n.port),
		"HERALD_DATA_DIR":               n.dir,
		"HERALD_JWT_SECRET":             jwtSecret,
		"HERALD_API_KEY":                apiKey,
		"HERALD_CONN_PER_IP_PER_MINUTE": "1000000",
		"HERALD_PRESENCE_GRACE":         "1s",
	}
	for k, v := range settings {
		env[k] = v
	}
	n.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + n.dir}
	for k, v := range env {
		n.env = append(n.env, k+"="+v)
	}
	n.start()
	t.Cleanup(func() { n.proc.kill() })
	return n
}

func (n *node) start() {
	n.t.Helper()
	n.n++
	log := filepath.Join(n.dir, fmt.Sprintf("%s-%d.log", n.name, n.n))
	showLogOnFailure(n.t, n.name, log)
	n.proc = startProc(n.t, n.name, log, n.env, nil, heraldBin)
	waitFor(n.t, 20*time.Second, n.name+" /healthz", func() bool {
		if !n.proc.alive() {
			n.t.Fatalf("%s exited at start", n.name)
		}
		return n.healthy()
	})
}

// kill kills the node with SIGKILL.
func (n *node) kill() { n.proc.kill() }

// restart starts a killed node again, on the same port and data.
func (n *node) restart() { n.start() }

func (n *node) url() string { return fmt.Sprintf("http://127.0.0.1:%d", n.port) }

var httpClient = &http.Client{Timeout: 3 * time.Second}

func (n *node) healthy() bool {
	res, err := httpClient.Get(n.url() + "/healthz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// checkAlive fails t unless the process runs and /healthz answers.
func (n *node) checkAlive(t testing.TB) {
	t.Helper()
	if !n.proc.alive() {
		t.Errorf("%s crashed: %v", n.name, n.proc.cmd.ProcessState)
		return
	}
	if !n.healthy() {
		t.Errorf("%s: /healthz does not answer", n.name)
	}
}

// metrics reads the node's Prometheus metrics (unlabelled ones, and the
// labelled ones with their labels in the name).
func (n *node) metrics() (map[string]float64, error) {
	res, err := httpClient.Get(n.url() + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		i := bytes.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(string(line[i+1:]), 64); err == nil {
			out[string(line[:i])] = v
		}
	}
	return out, sc.Err()
}

// rssBytes is the node's resident set size.
func (n *node) rssBytes() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.proc.pid()))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// waitFor polls cond every 100 ms and fails t if it does not hold within d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(d, cond) {
		t.Fatalf("%s: not within %v", what, d)
	}
}

// poll reports whether cond held within d.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// proxy stands for a load balancer: each new connection goes to the
// first backend that accepts it, so clients of a dead node reconnect to
// another one. WebSocket-only clients need no stickiness.
type proxy struct {
	ln       net.Listener
	backends []string
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
}

func startProxy(t testing.TB, backends ...*node) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, conns: map[net.Conn]struct{}{}}
	for _, b := range backends {
		p.backends = append(p.backends, fmt.Sprintf("127.0.0.1:%d", b.port))
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		var up net.Conn
		for _, b := range p.backends {
			if up, err = net.DialTimeout("tcp", b, time.Second); err == nil {
				break
			}
		}
		if up == nil || !p.track(c, up) {
			c.Close()
			continue
		}
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies until either side ends, then closes both.
func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.done = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
