package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken is returned for every token that does not verify: bad
// syntax, signature, algorithm, time window, issuer, audience or claims. The
// returned error wraps it together with the cause.
var ErrInvalidToken = errors.New("auth: invalid token")

// Defaults used when the corresponding Options field is zero.
const (
	DefaultLeeway      = 30 * time.Second
	DefaultJWKSRefresh = 10 * time.Minute
	// maxTokenLen bounds the work done on a hostile token.
	maxTokenLen = 16 << 10
)

// User is the identity carried by a verified token.
type User struct {
	// ID is the token's "sub" claim.
	ID string `json:"id"`
	// Name is the "name" claim, or "preferred_username", or else ID.
	Name string `json:"name"`
	// Roles is the "roles" claim: an array of strings or a single string.
	Roles []string `json:"roles,omitempty"`
	// ValidUntil is when the verifier stops accepting the token: its
	// "exp" claim plus the allowed clock skew. Zero for a User not made
	// by Verify.
	ValidUntil time.Time `json:"-"`
	// IssuedAt is the token's "iat" claim (zero without one): sessions
	// revoked at or after it are refused.
	IssuedAt time.Time `json:"-"`
}

// HasRole reports whether the user has the role.
func (u User) HasRole(role string) bool { return slices.Contains(u.Roles, role) }

// Options configures a Verifier. At least one of HS256Secret, PublicKeysPEM
// and JWKS must be set.
type Options struct {
	// HS256Secret enables HS256 with this shared secret. Use 32 random
	// bytes or more.
	HS256Secret []byte
	// PublicKeysPEM holds one or more PEM public keys ("PUBLIC KEY" in PKIX
	// form, or "RSA PUBLIC KEY"). RSA keys enable RS256 and P-256 keys ES256.
	PublicKeysPEM []byte
	// JWKS is a file path or an http(s) URL of a JSON Web Key Set whose RSA
	// and P-256 keys are used for RS256 and ES256.
	JWKS string
	// JWKSRefresh is how long fetched keys are used before they are fetched
	// again (DefaultJWKSRefresh if zero). A token with an unknown "kid"
	// triggers an earlier refresh, at most once per JWKSMinRefresh.
	JWKSRefresh time.Duration
	// JWKSMinRefresh is the least time between two fetches (30s if zero).
	JWKSMinRefresh time.Duration
	// HTTPClient fetches an http(s) JWKS (a client with a 10s timeout if nil).
	HTTPClient *http.Client
	// Issuer, when set, must equal the "iss" claim.
	Issuer string
	// Audience, when set, must be one of the "aud" values.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat (DefaultLeeway if
	// zero, none if negative).
	Leeway time.Duration
	// Now returns the current time (time.Now if nil); for tests.
	Now func() time.Time
}

// Verifier checks tokens against the keys and rules of its Options.
type Verifier struct {
	secret  []byte
	rsaKeys []*rsa.PublicKey
	ecKeys  []*ecdsa.PublicKey
	jwks    *jwksCache
	parser  *jwt.Parser
	leeway  time.Duration
}

// NewVerifier returns a Verifier for opts. If opts.JWKS is set it is loaded
// now, so a wrong path or URL is reported at start.
func NewVerifier(ctx context.Context, opts Options) (*Verifier, error) {
	v := &Verifier{secret: slices.Clone(opts.HS256Secret)}
	if len(opts.PublicKeysPEM) > 0 {
		if err := v.addPEM(opts.PublicKeysPEM); err != nil {
			return nil, err
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.JWKS != "" {
		v.jwks = newJWKSCache(opts, now)
		if err := v.jwks.load(ctx); err != nil {
			return nil, err
		}
	}
	var methods []string
	if len(v.secret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if len(v.rsaKeys) > 0 || v.jwks != nil {
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	}
	if len(v.ecKeys) > 0 || v.jwks != nil {
		methods = append(methods, jwt.SigningMethodES256.Alg())
	}
	if len(methods) == 0 {
		return nil, errors.New("auth: no verification key configured (HS256 secret, public key or JWKS)")
	}
	leeway := opts.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	v.leeway = leeway
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
	}
	if opts.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(opts.Audience))
	}
	v.parser = jwt.NewParser(popts...)
	return v, nil
}

func (v *Verifier) addPEM(data []byte) error {
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var key any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				key = cert.PublicKey
			}
		default:
			return fmt.Errorf("auth: PEM block %q is not a public key", block.Type)
		}
		if err != nil {
			return fmt.Errorf("auth: parse PEM public key: %w", err)
		}
		switch k := key.(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				return fmt.Errorf("auth: RSA key of %d bits is too small", k.N.BitLen())
			}
			v.rsaKeys = append(v.rsaKeys, k)
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				return errors.New("auth: only P-256 EC keys (ES256) are supported")
			}
			v.ecKeys = append(v.ecKeys, k)
		default:
			return fmt.Errorf("auth: unsupported public key type %T", key)
		}
		n++
	}
	if n == 0 {
		return errors.New("auth: no PEM public key found")
	}
	return nil
}

// claims are the token claims Herald reads.
type claims struct {
	jwt.RegisteredClaims
	Name              string    `json:"name,omitempty"`
	PreferredUsername string    `json:"preferred_username,omitempty"`
	Roles             stringSet `json:"roles,omitempty"`
}

// stringSet decodes a JSON array of strings or a single string.
type stringSet []string

func (s *stringSet) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stringSet{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("roles must be a string or an array of strings")
	}
	*s = many
	return nil
}

// Verify checks token and returns its user. Every failure wraps
// ErrInvalidToken. ctx bounds a JWKS refresh, if one is due.
func (v *Verifier) Verify(ctx context.Context, token string) (User, error) {
	if token == "" {
		return User{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if len(token) > maxTokenLen {
		return User{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) { return v.keysFor(ctx, t) })
	if err != nil {
		return User{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Subject == "" {
		return User{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	u := User{ID: c.Subject, Name: c.Name, Roles: []string(c.Roles)}
	if c.ExpiresAt != nil { // required by the parser
		u.ValidUntil = c.ExpiresAt.Add(v.leeway)
	}
	if c.IssuedAt != nil {
		u.IssuedAt = c.IssuedAt.Time
	}
	if u.Name == "" {
		u.Name = c.PreferredUsername
	}
	if u.Name == "" {
		u.Name = u.ID
	}
	return u, nil
}

// keysFor returns the keys that may have signed t. Only keys of the kind
// that t's algorithm uses are returned, which rules out algorithm confusion.
func (v *Verifier) keysFor(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	var keys []jwt.VerificationKey
	switch t.Method.Alg() {
	case jwt.SigningMethodHS256.Alg():
		if len(v.secret) == 0 {
			return nil, errors.New("HS256 not configured")
		}
		return v.secret, nil
	case jwt.SigningMethodRS256.Alg():
		for _, k := range v.rsaKeys {
			keys = append(keys, k)
		}
		if v.jwks != nil {
			for _, k := range v.jwks.keys(ctx, kid, "RSA") {
				keys = append(keys, k)
			}
		}
	case jwt.SigningMethodES256.Alg():
		for _, k := range v.ecKeys {
			keys = append(keys, k)
		}
		if v.jwks != nil {
			for _, k := range v.jwks.keys(ctx, kid, "EC") {
				keys = append(keys, k)
			}
		}
	default:
		return nil, fmt.Errorf("algorithm %q not accepted", t.Method.Alg())
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no %s key matches kid %q", t.Method.Alg(), kid)
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// Mint returns an HS256 token for u, valid for ttl from now. It is meant
// for development and tests; production tokens come from an identity
// provider.
func Mint(secret []byte, u User, ttl time.Duration) (string, error) {
	switch {
	case len(secret) == 0:
		return "", errors.New("auth: mint: empty secret")
	case u.ID == "":
		return "", errors.New("auth: mint: empty user id")
	case ttl <= 0:
		return "", errors.New("auth: mint: ttl must be positive")
	}
	now := time.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   u.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Name:  u.Name,
		Roles: stringSet(u.Roles),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}
