package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// maxJWKSSize bounds a JWKS document.
const maxJWKSSize = 1 << 20

// jwksKey is one usable key from a JWKS.
type jwksKey struct {
	kid string
	kty string // "RSA" or "EC"
	key any    // *rsa.PublicKey or *ecdsa.PublicKey
}

// jwksCache holds the keys of a JWKS and fetches them again when they are
// older than refresh, or when a token names an unknown kid (at most once per
// minRefresh). Refreshes happen on the caller's goroutine; a failed refresh
// keeps the previous keys.
type jwksCache struct {
	source     string
	client     *http.Client
	refresh    time.Duration
	minRefresh time.Duration
	now        func() time.Time

	fetching sync.Mutex // held while fetching

	mu      sync.RWMutex
	set     []jwksKey
	fetched time.Time // last successful fetch
	tried   time.Time // last attempt
}

func newJWKSCache(opts Options, now func() time.Time) *jwksCache {
	c := &jwksCache{
		source:     opts.JWKS,
		client:     opts.HTTPClient,
		refresh:    opts.JWKSRefresh,
		minRefresh: opts.JWKSMinRefresh,
		now:        now,
	}
	if c.client == nil {
		c.client = &http.Client{Timeout: 10 * time.Second}
	}
	if c.refresh <= 0 {
		c.refresh = DefaultJWKSRefresh
	}
	if c.minRefresh <= 0 {
		c.minRefresh = 30 * time.Second
	}
	return c
}

// load fetches the keys, failing if there are none.
func (c *jwksCache) load(ctx context.Context) error {
	c.fetching.Lock()
	defer c.fetching.Unlock()
	return c.fetchLocked(ctx)
}

func (c *jwksCache) fetchLocked(ctx context.Context) error {
	t := c.now()
	c.mu.Lock()
	c.tried = t
	c.mu.Unlock()
	data, err := c.read(ctx)
	if err != nil {
		return fmt.Errorf("auth: jwks %s: %w", c.source, err)
	}
	set, err := parseJWKS(data)
	if err != nil {
		return fmt.Errorf("auth: jwks %s: %w", c.source, err)
	}
	c.mu.Lock()
	c.set, c.fetched = set, t
	c.mu.Unlock()
	return nil
}

func (c *jwksCache) read(ctx context.Context) ([]byte, error) {
	if !strings.HasPrefix(c.source, "http://") && !strings.HasPrefix(c.source, "https://") {
		f, err := os.Open(c.source)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.source, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return readLimited(resp.Body)
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSSize {
		return nil, fmt.Errorf("larger than %d bytes", maxJWKSSize)
	}
	return data, nil
}

// keys returns the keys of type kty matching kid (all of them if kid is
// empty), refreshing first if the cache is stale or kid is unknown.
func (c *jwksCache) keys(ctx context.Context, kid, kty string) []any {
	c.mu.RLock()
	out := c.match(kid, kty)
	stale := c.now().Sub(c.fetched) >= c.refresh
	canRetry := c.now().Sub(c.tried) >= c.minRefresh
	c.mu.RUnlock()
	if (stale || (len(out) == 0 && kid != "")) && canRetry {
		// One caller refreshes; the others go on with the keys they have.
		if c.fetching.TryLock() {
			if c.fetchLocked(ctx) == nil {
				c.mu.RLock()
				out = c.match(kid, kty)
				c.mu.RUnlock()
			}
			c.fetching.Unlock()
		}
	}
	return out
}

// match must be called with c.mu held.
func (c *jwksCache) match(kid, kty string) []any {
	var out []any
	for _, k := range c.set {
		if k.kty == kty && (kid == "" || k.kid == kid) {
			out = append(out, k.key)
		}
	}
	return out
}

// jwk is the subset of RFC 7517 fields Herald reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS returns the RS256 and ES256 signature keys of a JWKS document.
// Keys of other types, curves, algorithms or uses are skipped.
func parseJWKS(data []byte) ([]jwksKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var out []jwksKey
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch {
		case k.Kty == "RSA" && (k.Alg == "" || k.Alg == "RS256"):
			key, err := rsaFromJWK(k)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", k.Kid, err)
			}
			out = append(out, jwksKey{kid: k.Kid, kty: "RSA", key: key})
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == "ES256"):
			key, err := ecFromJWK(k)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", k.Kid, err)
			}
			out = append(out, jwksKey{kid: k.Kid, kty: "EC", key: key})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no RS256 or ES256 signature keys")
	}
	return out, nil
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty number")
	}
	return new(big.Int).SetBytes(b), nil
}

func rsaFromJWK(k jwk) (*rsa.PublicKey, error) {
	n, err := b64int(k.N)
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	e, err := b64int(k.E)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	if n.BitLen() < 2048 {
		return nil, fmt.Errorf("RSA key of %d bits is too small", n.BitLen())
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, errors.New("bad RSA exponent")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

func ecFromJWK(k jwk) (*ecdsa.PublicKey, error) {
	x, err := b64int(k.X)
	if err != nil {
		return nil, fmt.Errorf("x: %w", err)
	}
	y, err := b64int(k.Y)
	if err != nil {
		return nil, fmt.Errorf("y: %w", err)
	}
	if x.BitLen() > 256 || y.BitLen() > 256 {
		return nil, errors.New("coordinate too large for P-256")
	}
	// Encode as an uncompressed point and let crypto/ecdsa check that it
	// lies on the curve.
	point := make([]byte, 65)
	point[0] = 4
	x.FillBytes(point[1:33])
	y.FillBytes(point[33:])
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, err
	}
	return key, nil
}
