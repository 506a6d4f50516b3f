package service

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// splitList splits a comma-separated setting, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// clientIP is the address a request comes from. Behind a trusted proxy
// it is the nearest address in X-Forwarded-For (or Forwarded) that is not
// itself a trusted proxy: what an untrusted hop claims about earlier
// hops cannot be believed.
func (s *Service) clientIP(r *http.Request) netip.Addr {
	ip := parseIP(r.RemoteAddr)
	if !s.trusted(ip) {
		return ip
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		hop := parseIP(hops[i])
		if !hop.IsValid() {
			break // garbage: keep the last address we could trust
		}
		ip = hop
		if !s.trusted(hop) {
			break
		}
	}
	return ip
}

func (s *Service) trusted(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	std := net.IP(ip.Unmap().AsSlice())
	for _, n := range s.cfg.trustedNets {
		if n.Contains(std) {
			return true
		}
	}
	return false
}

// forwardedFor returns the client addresses of X-Forwarded-For, or else
// of the "for" parameters of Forwarded (RFC 7239), nearest last.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		hops = append(hops, splitList(v)...)
	}
	if len(hops) > 0 {
		return hops
	}
	for _, v := range h.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					hops = append(hops, strings.Trim(val, `"`))
				}
			}
		}
	}
	return hops
}

// parseIP reads "ip", "ip:port" or "[ipv6]:port".
func parseIP(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	ip, _ := netip.ParseAddr(strings.Trim(s, "[]"))
	return ip.Unmap()
}

// originGuard refuses the "null" origin (sandboxed frames, file: pages,
// some redirects) unless it is listed: with "*" it would otherwise pass.
func (s *Service) originGuard(next http.Handler) http.Handler {
	allowNull := slices.Contains(splitList(s.cfg.CORSOrigins), "null")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowNull && r.Header.Get("Origin") == "null" {
			jsonError(w, http.StatusForbidden, "origin not allowed")
			return
		}
		next.ServeHTTP(w, r)
	})
}
