package service

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/heraldio/herald/service/proxy"
	"github.com/heraldio/herald/service/webhook"
)

// HooksConfig configures the backend hooks: webhooks, the event proxy
// (RPC) and the connect proxy. Each is off until its URL is set.
type HooksConfig struct {
	Webhooks        string        // webhooks, HERALD_WEBHOOKS: "URL [event,…]; URL …": receivers and the events each takes (every event when none is listed)
	WebhookSecret   string        // webhook-secret, HERALD_WEBHOOK_SECRET: HMAC-SHA256 key of the signatures, at least 16 bytes; required with webhooks (also signs proxy calls)
	WebhookTimeout  time.Duration // webhook-timeout, HERALD_WEBHOOK_TIMEOUT: one delivery attempt (5s)
	WebhookAttempts int           // webhook-attempts, HERALD_WEBHOOK_ATTEMPTS: attempts before an event is dropped (8)
	WebhookBackoff  time.Duration // webhook-backoff, HERALD_WEBHOOK_BACKOFF: wait before the first retry, doubled for each next one up to 1m (1s)
	WebhookQueue    int           // webhook-queue, HERALD_WEBHOOK_QUEUE: events waiting for one receiver; past it new ones are dropped (10000)

	RPCURL        string        // rpc-url, HERALD_RPC_URL: where the event proxy POSTs ("" = off)
	RPCEvents     string        // rpc-events, HERALD_RPC_EVENTS: events it takes, "name", "prefix*" or "/namespace=…", comma-separated ("rpc:*")
	RPCTimeout    time.Duration // rpc-timeout, HERALD_RPC_TIMEOUT: one call (5s)
	RPCMaxPerConn int           // rpc-max-per-connection, HERALD_RPC_MAX_PER_CONNECTION: calls in flight per socket (8)
	RPCMaxTotal   int           // rpc-max-concurrent, HERALD_RPC_MAX_CONCURRENT: calls in flight on the node (256)

	ConnectURL     string        // connect-proxy-url, HERALD_CONNECT_PROXY_URL: the backend that authorizes connections ("" = off)
	ConnectMode    string        // connect-proxy-mode, HERALD_CONNECT_PROXY_MODE: after (the JWT is checked first) or replace (no JWT) (after)
	ConnectHeaders string        // connect-proxy-headers, HERALD_CONNECT_PROXY_HEADERS: request headers passed to it, comma-separated ("")
	ConnectTimeout time.Duration // connect-proxy-timeout, HERALD_CONNECT_PROXY_TIMEOUT: one call (3s)

	endpoints []webhook.Endpoint
	rpcEvents []proxy.Pattern
}

// settings are the hooks' rows of the settings table.
func (h *HooksConfig) settings() []setting {
	return []setting{
		text(&h.Webhooks, "webhooks", "HERALD_WEBHOOKS", "", `webhook receivers: "URL [event,...]; URL"`).masked(false).checked(h.checkWebhooks),
		text(&h.WebhookSecret, "webhook-secret", "HERALD_WEBHOOK_SECRET", "", "HMAC-SHA256 key of webhook (and proxy call) signatures, at least 16 bytes").masked(true),
		duration(&h.WebhookTimeout, "webhook-timeout", "HERALD_WEBHOOK_TIMEOUT", "5s", 1, "one webhook delivery attempt"),
		integer(&h.WebhookAttempts, "webhook-attempts", "HERALD_WEBHOOK_ATTEMPTS", "8", 1, "attempts before a webhook event is dropped"),
		duration(&h.WebhookBackoff, "webhook-backoff", "HERALD_WEBHOOK_BACKOFF", "1s", 1, "wait before the first webhook retry (doubled, up to 1m)"),
		integer(&h.WebhookQueue, "webhook-queue", "HERALD_WEBHOOK_QUEUE", "10000", 1, "webhook events waiting per receiver"),
		text(&h.RPCURL, "rpc-url", "HERALD_RPC_URL", "", "event proxy backend URL").masked(false).checked(func() error { return checkURL(h.RPCURL) }),
		text(&h.RPCEvents, "rpc-events", "HERALD_RPC_EVENTS", "rpc:*", "events the event proxy takes: name, prefix*, /namespace=...").checked(h.checkRPCEvents),
		duration(&h.RPCTimeout, "rpc-timeout", "HERALD_RPC_TIMEOUT", "5s", 1, "one event proxy call"),
		integer(&h.RPCMaxPerConn, "rpc-max-per-connection", "HERALD_RPC_MAX_PER_CONNECTION", "8", 1, "event proxy calls in flight per socket"),
		integer(&h.RPCMaxTotal, "rpc-max-concurrent", "HERALD_RPC_MAX_CONCURRENT", "256", 1, "event proxy calls in flight on the node"),
		text(&h.ConnectURL, "connect-proxy-url", "HERALD_CONNECT_PROXY_URL", "", "backend that authorizes connections").masked(false).checked(func() error { return checkURL(h.ConnectURL) }),
		choice(&h.ConnectMode, "connect-proxy-mode", "HERALD_CONNECT_PROXY_MODE", "after", "after (the JWT first) or replace (no JWT)", "after", "replace"),
		text(&h.ConnectHeaders, "connect-proxy-headers", "HERALD_CONNECT_PROXY_HEADERS", "", "request headers passed to the connect proxy, comma-separated"),
		duration(&h.ConnectTimeout, "connect-proxy-timeout", "HERALD_CONNECT_PROXY_TIMEOUT", "3s", 1, "one connect proxy call"),
	}
}

// checkWebhooks parses Webhooks; receivers need the secret.
func (h *HooksConfig) checkWebhooks() error {
	h.endpoints = nil
	for _, item := range strings.Split(h.Webhooks, ";") {
		fields := strings.Fields(item)
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 2 {
			return fmt.Errorf("%q: want a URL and an optional comma-separated event list", strings.TrimSpace(item))
		}
		if err := checkURL(fields[0]); err != nil {
			return err
		}
		ep := webhook.Endpoint{URL: fields[0]}
		if len(fields) == 2 {
			for _, t := range strings.Split(fields[1], ",") {
				if !webhook.ValidType(t) {
					return fmt.Errorf("unknown event %q (want one of %s)", t, strings.Join(webhook.Types, ", "))
				}
				ep.Events = append(ep.Events, t)
			}
		}
		h.endpoints = append(h.endpoints, ep)
	}
	if len(h.endpoints) > 0 && len(h.WebhookSecret) < 16 {
		return errors.New("receivers need HERALD_WEBHOOK_SECRET (webhook-secret) of at least 16 bytes")
	}
	return nil
}

func (h *HooksConfig) checkRPCEvents() error {
	p, err := proxy.ParsePatterns(h.RPCEvents)
	if err != nil {
		return err
	}
	if len(p) == 0 && h.RPCURL != "" {
		return errors.New("no event given")
	}
	h.rpcEvents = p
	return nil
}

// checkURL accepts "" (off) and absolute http(s) URLs.
func checkURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL", raw)
	}
	return nil
}
