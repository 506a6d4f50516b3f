package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"go.uber.org/goleak"

	"github.com/heraldio/herald/service"
	"github.com/heraldio/herald/service/api"
	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/servicetest"
	"github.com/heraldio/herald/test/support"
)

const (
	testSecret = "api-test-secret-api-test-secret-0123"
	testKey    = "api-test-key"
)

// spec checks every request and response the tests make against the
// OpenAPI document, and records which operations answered with success.
var spec struct {
	once sync.Once
	v    validator.Validator
	err  error

	mu   sync.Mutex
	seen map[string]bool // "METHOD /path/{template}" answered 2xx
}

func specValidator(t testing.TB) validator.Validator {
	t.Helper()
	spec.once.Do(func() {
		doc, err := libopenapi.NewDocument(api.Document())
		if err != nil {
			spec.err = err
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			spec.err = fmt.Errorf("validator: %v", errs)
			return
		}
		spec.v = v
		spec.seen = map[string]bool{}
	})
	if spec.err != nil {
		t.Fatal(spec.err)
	}
	return spec.v
}

// operations returns "METHOD /path" of every operation of the document.
func operations(t testing.TB) []string {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.Document(), &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for p, ops := range doc.Paths {
		for m := range ops {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options":
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
	}
	sort.Strings(out)
	return out
}

// template returns the document's path that p matches.
func template(t testing.TB, method, p string) string {
	for _, op := range operations(t) {
		m, tp, _ := strings.Cut(op, " ")
		if m != method {
			continue
		}
		a, b := strings.Split(tp, "/"), strings.Split(p, "/")
		if len(a) != len(b) {
			continue
		}
		match := true
		for i := range a {
			if a[i] != b[i] && !strings.HasPrefix(a[i], "{") {
				match = false
				break
			}
		}
		if match {
			return op
		}
	}
	return ""
}

func TestMain(m *testing.M) {
	code := m.Run()
	// With the whole package run, every operation must have been seen
	// answering with success, its request and response checked.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && spec.seen != nil {
		var missing []string
		for _, op := range operations(nil) {
			if !spec.seen[op] {
				missing = append(missing, op)
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "operations of the OpenAPI document no test called with success:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
			goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// node is one herald service under test.
type node struct {
	t   *testing.T
	svc *service.Service
	url string
	env map[string]string // what it was started with, for another node alike
}

// start runs a service with the test secret and API key over env.
func start(t *testing.T, env map[string]string) *node {
	t.Helper()
	base := map[string]string{
		"HERALD_JWT_SECRET": testSecret, "HERALD_API_KEY": testKey,
		"HERALD_PRESENCE_GRACE": "100ms", "HERALD_CONN_PER_IP_PER_MINUTE": "100000", "HERALD_LOG_LEVEL": "error",
	}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := service.Load(nil, servicetest.Env(t, base))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &node{t: t, svc: svc, url: servicetest.Serve(t, svc), env: env}
}

// token mints a token for a user with roles.
func token(id, name string, roles ...string) string {
	if len(roles) == 0 {
		roles = []string{"user"}
	}
	s, err := auth.Mint([]byte(testSecret), auth.User{ID: id, Name: name, Roles: roles}, time.Hour)
	if err != nil {
		panic(err)
	}
	return s
}

// dial opens an Engine.IO connection to n, with no namespace yet.
func dial(n *node) *support.Conn { return support.Dial(n.t, n.url, "/socket.io/") }

// connect opens a socket of user id in nsp ("/" or "/chat").
func (n *node) connect(id, name, nsp string, roles ...string) (*support.Conn, string) {
	n.t.Helper()
	c := support.Dial(n.t, n.url, "/socket.io/")
	sid := c.Connect(nsp, `{"token":"`+token(id, name, roles...)+`"}`)
	return c, sid
}

// call makes a request that must match the document, and checks the
// response against it too. body is marshalled unless it is a string.
func (n *node) call(method, path string, body any) (int, map[string]any) {
	n.t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			n.t.Fatal(err)
		}
	}
	return n.do(method, path, b, map[string]string{"Authorization": "Bearer " + testKey}, true)
}

// bad makes a request the document does not allow (so only the response
// is checked); headers replace the default Authorization.
func (n *node) bad(method, path, body string, headers map[string]string) (int, map[string]any) {
	n.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + testKey}
	for k, v := range headers {
		h[k] = v
	}
	return n.do(method, path, []byte(body), h, false)
}

func (n *node) do(method, path string, body []byte, headers map[string]string, valid bool) (int, map[string]any) {
	n.t.Helper()
	v := specValidator(n.t)
	req := func() *http.Request {
		r, err := http.NewRequest(method, n.url+path, bytes.NewReader(body))
		if err != nil {
			n.t.Fatal(err)
		}
		if body != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		for k, val := range headers {
			if val == "" {
				r.Header.Del(k)
			} else {
				r.Header.Set(k, val)
			}
		}
		return r
	}
	res, err := http.DefaultClient.Do(req())
	if err != nil {
		n.t.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var parsed map[string]any
	if err := json.Unmarshal(out, &parsed); err != nil {
		n.t.Fatalf("%s %s: %d, body not a JSON object: %q", method, path, res.StatusCode, out)
	}
	check := req()
	check.URL.Scheme, check.URL.Host = "", "" // the document's server is "/"
	check.URL, _ = check.URL.Parse(path)
	res.Body = io.NopCloser(bytes.NewReader(out))
	op := template(n.t, method, check.URL.Path)
	ok, errs := true, []*errorsT(nil)
	switch {
	case op == "": // not in the document: an unknown path or method
		if e, _ := parsed["error"].(map[string]any); res.StatusCode < 400 || e["code"] == nil || e["message"] == nil {
			n.t.Errorf("%s %s: %d %s, want an error", method, path, res.StatusCode, out)
		}
	case valid:
		ok, errs = v.ValidateHttpRequestResponse(check, res)
	default:
		ok, errs = v.ValidateHttpResponse(check, res)
	}
	if !ok {
		for _, e := range errs {
			n.t.Errorf("OpenAPI: %s %s (%d %s): %s", method, path, res.StatusCode, out, describe(e))
		}
	}
	if valid && op != "" && res.StatusCode < 300 {
		spec.mu.Lock()
		spec.seen[op] = true
		spec.mu.Unlock()
	}
	return res.StatusCode, parsed
}

type errorsT = verrors.ValidationError

func describe(e *errorsT) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Message, e.Reason)
	for _, f := range e.SchemaValidationErrors {
		fmt.Fprintf(&b, "; %s at %s", f.Reason, f.FieldPath)
	}
	return b.String()
}

// badCase is a request that must fail with status and code.
type badCase struct {
	method, path, body string
	status             int
	code               string
}

// expectErrors makes each request and checks its error.
func (n *node) expectErrors(cases []badCase) {
	n.t.Helper()
	for _, tt := range cases {
		status, res := n.bad(tt.method, tt.path, tt.body, nil)
		if e, _ := res["error"].(map[string]any); status != tt.status || e["code"] != tt.code {
			n.t.Errorf("%s %s %.60s: %d %v, want %d %s", tt.method, tt.path, tt.body, status, res, tt.status, tt.code)
		}
	}
}
