package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	t0     = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

func keys(t testing.TB) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, ecKey
}

func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwksOf(t testing.TB) []byte {
	rk, ek := keys(t)
	doc := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(ek.X.Bytes()), "y": b64(ek.Y.Bytes())},
		{"kty": "oct", "kid": "skip", "k": "c2VjcmV0"},
		{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
	}}
	b, _ := json.Marshal(doc)
	return b
}

// claimsAt returns valid claims for t0.
func claimsAt() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":   "u1",
		"name":  "Ann",
		"roles": []string{"admin", "user"},
		"iat":   t0.Add(-time.Minute).Unix(),
		"nbf":   t0.Add(-time.Minute).Unix(),
		"exp":   t0.Add(time.Hour).Unix(),
		"iss":   "https://issuer.example",
		"aud":   []string{"herald", "other"},
	}
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifier(t testing.TB, o Options) *Verifier {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return t0 }
	}
	v, err := NewVerifier(context.Background(), o)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestVerify(t *testing.T) {
	rk, ek := keys(t)
	dir := t.TempDir()
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, jwksOf(t), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwksOf(t))
	}))
	defer srv.Close()

	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hs := Options{HS256Secret: secret}
	rsaPEM := Options{PublicKeysPEM: pemOf(t, &rk.PublicKey)}
	ecPEM := Options{PublicKeysPEM: pemOf(t, &ek.PublicKey)}
	all := Options{HS256Secret: secret, PublicKeysPEM: append(pemOf(t, &rk.PublicKey), pemOf(t, &ek.PublicKey)...)}
	fileJWKS := Options{JWKS: jwksFile}
	httpJWKS := Options{JWKS: srv.URL}
	strict := Options{HS256Secret: secret, Issuer: "https://issuer.example", Audience: "herald"}
	noneTok := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(mustJSON(claimsAt())) + "."

	for _, tc := range []struct {
		name  string
		opts  Options
		token string
		ok    bool
	}{
		{"HS256", hs, sign(t, jwt.SigningMethodHS256, secret, claimsAt(), ""), true},
		{"RS256 PEM", rsaPEM, sign(t, jwt.SigningMethodRS256, rk, claimsAt(), ""), true},
		{"ES256 PEM", ecPEM, sign(t, jwt.SigningMethodES256, ek, claimsAt(), ""), true},
		{"all algs HS256", all, sign(t, jwt.SigningMethodHS256, secret, claimsAt(), ""), true},
		{"all algs RS256", all, sign(t, jwt.SigningMethodRS256, rk, claimsAt(), ""), true},
		{"all algs ES256", all, sign(t, jwt.SigningMethodES256, ek, claimsAt(), ""), true},
		{"JWKS file RS256", fileJWKS, sign(t, jwt.SigningMethodRS256, rk, claimsAt(), "r1"), true},
		{"JWKS file ES256 no kid", fileJWKS, sign(t, jwt.SigningMethodES256, ek, claimsAt(), ""), true},
		{"JWKS http RS256", httpJWKS, sign(t, jwt.SigningMethodRS256, rk, claimsAt(), "r1"), true},
		{"JWKS http ES256", httpJWKS, sign(t, jwt.SigningMethodES256, ek, claimsAt(), "e1"), true},
		{"JWKS wrong kid", httpJWKS, sign(t, jwt.SigningMethodRS256, rk, claimsAt(), "e1"), false},
		{"JWKS unknown key", httpJWKS, sign(t, jwt.SigningMethodRS256, otherRSA, claimsAt(), "r9"), false},
		{"JWKS rejects HS256", httpJWKS, sign(t, jwt.SigningMethodHS256, secret, claimsAt(), ""), false},
		{"issuer and audience", strict, sign(t, jwt.SigningMethodHS256, secret, claimsAt(), ""), true},
		{"within leeway", hs, sign(t, jwt.SigningMethodHS256, secret, with(claimsAt(), "exp", t0.Add(-10*time.Second).Unix()), ""), true},

		{"expired", hs, sign(t, jwt.SigningMethodHS256, secret, with(claimsAt(), "exp", t0.Add(-time.Hour).Unix()), ""), false},
		{"no exp", hs, sign(t, jwt.SigningMethodHS256, secret, with(claimsAt(), "exp", nil), ""), false},
		{"not yet valid", hs, sign(t, jwt.SigningMethodHS256, secret, with(claimsAt(), "nbf", t0.Add(time.Hour).Unix()), ""), false},
		{"issued in the future", hs, sign(t, jwt.SigningMethodHS256, secret, with(claimsAt(), "iat", t0.Add(time.Hour).Unix()), ""), false},
		{"bad signature HS256", hs, sign(t, jwt.SigningMethodHS256, []byte("another secret of enough length!"), claimsAt(), ""), false},
		{"bad signature RS256", rsaPEM, sign(t, jwt.SigningMethodRS256, otherRSA, claimsAt(), ""), false},
		{"tampered payload", hs, tamper(sign(t, jwt.SigningMethodHS256, secret, claimsAt(), "")), false},
		{"alg none", all, noneTok, false},
		{"alg none via library", hs, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claimsAt(), ""), false},
		{"alg confusion RSA-only", rsaPEM, sign(t, jwt.SigningMethodHS256, pemOf(t, &rk.PublicKey), claimsAt(), ""), false},
		{"alg confusion all algs", all, sign(t, jwt.SigningMethodHS256, pemOf(t, &rk.PublicKey), claimsAt(), ""), false},
		{"RS256 token to HS-only", hs, sign(t, jwt.SigningMethodRS256, rk, claimsAt(), ""), false},
		{"HS384 not accepted", all, sign(t, jwt.SigningMethodHS384, secret, claimsAt(), ""), false},
		{"missing sub", hs, sign(t, jwt.SigningMethodHS256, secret, with(claimsAt(), "sub", nil), ""), false},
		{"empty sub", hs, sign(t, jwt.SigningMethodHS256, secret, with(claimsAt(), "sub", ""), ""), false},
		{"wrong issuer", strict, sign(t, jwt.SigningMethodHS256, secret, with(claimsAt(), "iss", "evil"), ""), false},
		{"missing issuer", strict, sign(t, jwt.SigningMethodHS256, secret, with(claimsAt(), "iss", nil), ""), false},
		{"wrong audience", strict, sign(t, jwt.SigningMethodHS256, secret, with(claimsAt(), "aud", "nope"), ""), false},
		{"bad roles type", hs, sign(t, jwt.SigningMethodHS256, secret, with(claimsAt(), "roles", 5), ""), false},
		{"empty", hs, "", false},
		{"garbage", hs, "not a token", false},
		{"three dots", hs, "a.b.c", false},
		{"bad base64", hs, "!!!.???.###", false},
		{"huge", hs, strings.Repeat("a", maxTokenLen+1), false},
		{"JSON not object", hs, b64([]byte(`{"alg":"HS256"}`)) + "." + b64([]byte(`[1,2]`)) + ".x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := verifier(t, tc.opts).Verify(t.Context(), tc.token)
			if !tc.ok {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", u, err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if u.ID != "u1" || u.Name != "Ann" || len(u.Roles) != 2 || !u.HasRole("admin") {
				t.Fatalf("user = %+v", u)
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = b64(mustJSON(with(claimsAt(), "sub", "admin")))
	return strings.Join(parts, ".")
}

func TestUserFromClaims(t *testing.T) {
	v := verifier(t, Options{HS256Secret: secret})
	for _, tc := range []struct {
		name string
		c    jwt.MapClaims
		want User
	}{
		{"single role string", with(claimsAt(), "roles", "mod"), User{ID: "u1", Name: "Ann", Roles: []string{"mod"}}},
		{"no name", with(claimsAt(), "name", nil, "roles", nil), User{ID: "u1", Name: "u1"}},
		{"preferred_username", with(claimsAt(), "name", nil, "roles", nil, "preferred_username", "ann"), User{ID: "u1", Name: "ann"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodHS256, secret, tc.c, ""))
			if err != nil {
				t.Fatal(err)
			}
			if u.ID != tc.want.ID || u.Name != tc.want.Name || strings.Join(u.Roles, ",") != strings.Join(tc.want.Roles, ",") {
				t.Fatalf("user = %+v, want %+v", u, tc.want)
			}
		})
	}
}

func TestMint(t *testing.T) {
	tok, err := Mint(secret, User{ID: "u7", Name: "Dev", Roles: []string{"user"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(t.Context(), Options{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	u, err := v.Verify(t.Context(), tok)
	if err != nil || u.ID != "u7" || u.Name != "Dev" || !u.HasRole("user") {
		t.Fatalf("Verify(Mint) = %+v, %v", u, err)
	}
	later := verifier(t, Options{HS256Secret: secret, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if _, err := later.Verify(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("minted token valid after ttl: %v", err)
	}
	for _, bad := range []struct {
		s   []byte
		u   User
		ttl time.Duration
	}{{nil, User{ID: "u"}, time.Hour}, {secret, User{}, time.Hour}, {secret, User{ID: "u"}, 0}} {
		if _, err := Mint(bad.s, bad.u, bad.ttl); err == nil {
			t.Errorf("Mint(%q, %+v, %v) succeeded", bad.s, bad.u, bad.ttl)
		}
	}
}

func TestNewVerifierRejects(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte(`{"keys":[]}`), 0o600)
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	for name, o := range map[string]Options{
		"nothing":         {},
		"bad PEM":         {PublicKeysPEM: []byte("hello")},
		"private key PEM": {PublicKeysPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})},
		"small RSA":       {PublicKeysPEM: pemOf(t, &small.PublicKey)},
		"P-384":           {PublicKeysPEM: pemOf(t, &p384.PublicKey)},
		"missing JWKS":    {JWKS: filepath.Join(dir, "nope.json")},
		"empty JWKS":      {JWKS: empty},
		"JWKS 404":        {JWKS: srv.URL},
	} {
		if _, err := NewVerifier(t.Context(), o); err == nil || !strings.HasPrefix(err.Error(), "auth: ") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestJWKSRefresh checks that keys are fetched again when stale or when a
// token names an unknown kid, but not more often than JWKSMinRefresh.
func TestJWKSRefresh(t *testing.T) {
	rk, _ := keys(t)
	rotated, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	var current atomic.Pointer[rsa.PrivateKey]
	current.Store(rk)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		k := current.Load()
		kid := "k1"
		if k != rk {
			kid = "k2"
		}
		w.Write(mustJSON(map[string]any{"keys": []map[string]string{
			{"kty": "RSA", "kid": kid, "n": b64(k.N.Bytes()), "e": "AQAB"},
		}}))
	}))
	defer srv.Close()
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	v := verifier(t, Options{JWKS: srv.URL, JWKSRefresh: time.Hour, JWKSMinRefresh: time.Minute, Now: clock})
	if fetches.Load() != 1 {
		t.Fatalf("fetches = %d after NewVerifier", fetches.Load())
	}
	ok := func(tok string) error { _, err := v.Verify(t.Context(), tok); return err }
	c := func() jwt.MapClaims { return with(claimsAt(), "exp", clock().Add(time.Hour).Unix()) }
	if err := ok(sign(t, jwt.SigningMethodRS256, rk, c(), "k1")); err != nil {
		t.Fatal(err)
	}
	// The provider rotates its key. An unknown kid right away: too soon.
	current.Store(rotated)
	if err := ok(sign(t, jwt.SigningMethodRS256, rotated, c(), "k2")); err == nil {
		t.Fatal("rotated key accepted before a refresh was allowed")
	}
	if fetches.Load() != 1 {
		t.Fatalf("fetches = %d, want 1 (min refresh interval)", fetches.Load())
	}
	advance(2 * time.Minute)
	if err := ok(sign(t, jwt.SigningMethodRS256, rotated, c(), "k2")); err != nil {
		t.Fatalf("rotated key after refresh: %v", err)
	}
	if fetches.Load() != 2 {
		t.Fatalf("fetches = %d, want 2", fetches.Load())
	}
	// Known kid, fresh cache: no fetch. Stale cache: one fetch.
	ok(sign(t, jwt.SigningMethodRS256, rotated, c(), "k2"))
	if fetches.Load() != 2 {
		t.Fatalf("fetches = %d, want 2", fetches.Load())
	}
	advance(2 * time.Hour)
	if err := ok(sign(t, jwt.SigningMethodRS256, rotated, c(), "k2")); err != nil {
		t.Fatal(err)
	}
	if fetches.Load() != 3 {
		t.Fatalf("fetches = %d, want 3", fetches.Load())
	}
	// A failing endpoint keeps the old keys.
	srv.Close()
	advance(2 * time.Hour)
	if err := ok(sign(t, jwt.SigningMethodRS256, rotated, c(), "k2")); err != nil {
		t.Fatalf("old keys dropped after failed refresh: %v", err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	rk, _ := keys(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(jwksOf(t)) }))
	defer srv.Close()
	v := verifier(t, Options{JWKS: srv.URL, JWKSRefresh: time.Nanosecond, JWKSMinRefresh: time.Nanosecond, Now: time.Now})
	tok := sign(t, jwt.SigningMethodRS256, rk, with(claimsAt(), "iat", nil, "nbf", nil, "exp", time.Now().Add(time.Hour).Unix()), "r1")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := v.Verify(context.Background(), tok); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzVerify(f *testing.F) {
	f.Add(sign(f, jwt.SigningMethodHS256, secret, claimsAt(), ""))
	f.Add(sign(f, jwt.SigningMethodHS256, secret, with(claimsAt(), "roles", "x"), "kid"))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("..")
	f.Add("")
	f.Add(b64([]byte(`{"alg":"HS256","kid":7}`)) + "." + b64([]byte(`{"sub":1,"exp":"x","aud":{}}`)) + ".AA")
	rk, ek := keys(f)
	v := verifier(f, Options{HS256Secret: secret, PublicKeysPEM: append(pemOf(f, &rk.PublicKey), pemOf(f, &ek.PublicKey)...)})
	f.Fuzz(func(t *testing.T, tok string) {
		u, err := v.Verify(context.Background(), tok)
		if err == nil && u.ID == "" {
			t.Fatalf("accepted token without subject: %q", tok)
		}
		if err != nil && !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("error %v does not wrap ErrInvalidToken", err)
		}
	})
}
