// Package proxy hands socket events and connections to a backend over
// HTTP: the event proxy (RPC) POSTs configured events and turns the
// answer into the client's ack (and actions: emit, join, leave,
// disconnect); the connect proxy lets the backend authorize a connection
// and name its user. Every call is bounded in time and in the size of
// the answer read; a backend that is down, slow or answers garbage gives
// the client a clear error and never blocks anything else.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/heraldio/herald/service/webhook"
)

// DefaultMaxBody is the largest backend answer read (1 MiB).
const DefaultMaxBody = 1 << 20

// Call failures.
var (
	ErrTimeout     = errors.New("proxy: backend timed out")
	ErrUnavailable = errors.New("proxy: backend unavailable")
	ErrBadAnswer   = errors.New("proxy: backend answer is not valid")
)

// backend POSTs JSON to one URL.
type backend struct {
	url     string
	client  *http.Client
	timeout time.Duration
	maxBody int64
	secret  []byte
}

func newBackend(url string, client *http.Client, timeout time.Duration, maxBody int64, secret []byte) backend {
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	return backend{url: url, client: client, timeout: timeout, maxBody: maxBody, secret: secret}
}

// call POSTs in and decodes the answer into out: a 2xx with a JSON body
// of at most maxBody bytes, within the timeout.
func (b backend) call(ctx context.Context, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("proxy: encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herald-Proxy/1")
	if len(b.secret) > 0 {
		req.Header.Set(webhook.HeaderSignature, webhook.Sign(b.secret, time.Now(), body))
	}
	resp, err := b.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ErrTimeout
		}
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%w: status %d", ErrUnavailable, resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, b.maxBody+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return ErrTimeout
	case err != nil:
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	case int64(len(raw)) > b.maxBody:
		return fmt.Errorf("%w: larger than %d bytes", ErrBadAnswer, b.maxBody)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%w: %v", ErrBadAnswer, err)
	}
	return nil
}

// Error is a backend's refusal, {code, message} (and data for a
// connection refusal).
type Error struct {
	Code    string          `json:"code,omitempty"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// ackError is what a client reads for a failed call.
func ackError(code, message string) map[string]any {
	return map[string]any{"error": map[string]any{"code": code, "message": message}}
}

// failure maps a call error to the client's ack error.
func failure(err error) map[string]any {
	switch {
	case errors.Is(err, ErrTimeout):
		return ackError("timeout", "Backend timeout")
	case errors.Is(err, ErrBadAnswer):
		return ackError("bad_answer", "Backend answer invalid")
	default:
		return ackError("unavailable", "Backend unavailable")
	}
}
