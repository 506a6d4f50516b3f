// Package auth verifies the JSON Web Tokens that clients present when they
// connect, and mints development tokens.
//
// # Verifying
//
// A Verifier accepts only the algorithms it has keys for: HS256 with a
// shared secret, RS256 and ES256 with PEM public keys, and RS256/ES256 with
// keys from a JWKS document (a file or an HTTP URL, cached and refreshed
// lazily, with no background goroutine). The "none" algorithm is never
// accepted, and each algorithm is checked only against keys of its own kind,
// so a token signed with HS256 using an RSA public key as the secret fails.
//
// Tokens must carry "exp" and "sub"; "nbf" and "iat" are honoured; issuer
// and audience are checked when configured; a small leeway absorbs clock
// skew. Every failure is reported as ErrInvalidToken, wrapping the cause
// for logs; the service tells clients only "Invalid token".
//
// # Minting
//
// Mint makes HS256 tokens for development: the "herald token" command and
// the dev-login endpoint use it.
//
// # Concurrency
//
// A Verifier is safe for concurrent use.
package auth
