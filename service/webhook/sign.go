package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	HeaderSignature = "Herald-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
	HeaderEvent     = "Herald-Event"     // the event type, e.g. user.online
	HeaderDelivery  = "Herald-Delivery"  // the event id, the same on every attempt
	HeaderAttempt   = "Herald-Attempt"   // 1 for the first attempt
)

// DefaultTolerance is the replay window Verify applies by default: a
// delivery signed longer ago than this (or this far in the future) is
// refused. Each attempt is signed afresh, so a retry is never stale.
const DefaultTolerance = 5 * time.Minute

// Verification errors.
var (
	ErrBadHeader = errors.New("webhook: malformed signature header")
	ErrSignature = errors.New("webhook: signature mismatch")
	ErrExpired   = errors.New("webhook: timestamp outside the tolerance")
)

// Sign returns the Herald-Signature header value of body, signed at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Herald-Signature header against the raw body: the
// HMAC must match (compared in constant time) and the timestamp be
// within tolerance of now (DefaultTolerance when zero). Several v1
// values are accepted, any of which may match (for secret rotation).
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrBadHeader
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil {
				return ErrBadHeader
			}
			sigs = append(sigs, b)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadHeader
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrExpired
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignature
}
