package service

import (
	"crypto/sha256"
	"errors"
	"strings"

	"github.com/heraldio/herald/admin"
	"golang.org/x/crypto/bcrypt"
)

// AdminConfig configures the Socket.IO Admin UI's namespace (package
// admin). It is off unless Enabled.
type AdminConfig struct {
	Enabled      bool   // admin-ui, HERALD_ADMIN_UI: serve the admin UI's namespace, /admin (off)
	User         string // admin-ui-user, HERALD_ADMIN_UI_USER: the UI's login name (admin)
	PasswordHash string // admin-ui-password-hash, HERALD_ADMIN_UI_PASSWORD_HASH: bcrypt hash of its password; required unless admin-ui-no-auth
	NoAuth       bool   // admin-ui-no-auth, HERALD_ADMIN_UI_NO_AUTH: no login at all (off; for a network you trust)
	ReadOnly     bool   // admin-ui-read-only, HERALD_ADMIN_UI_READ_ONLY: the UI may look, not join, leave, disconnect or emit (off)
	Mode         string // admin-ui-mode, HERALD_ADMIN_UI_MODE: development (sockets, rooms, events) or production (server stats only) (development)
	Origins      string // admin-ui-origins, HERALD_ADMIN_UI_ORIGINS: origins the UI is served from, allowed by CORS with credentials (e.g. https://admin.socket.io)
}

func (a *AdminConfig) settings() []setting {
	return []setting{
		boolean(&a.Enabled, "admin-ui", "HERALD_ADMIN_UI", "serve the Socket.IO Admin UI's namespace /admin"),
		text(&a.User, "admin-ui-user", "HERALD_ADMIN_UI_USER", "admin", "the admin UI's login name"),
		text(&a.PasswordHash, "admin-ui-password-hash", "HERALD_ADMIN_UI_PASSWORD_HASH", "", "bcrypt hash of the admin UI's password").masked(true),
		boolean(&a.NoAuth, "admin-ui-no-auth", "HERALD_ADMIN_UI_NO_AUTH", "admin UI without a login (anyone who reaches the server)"),
		boolean(&a.ReadOnly, "admin-ui-read-only", "HERALD_ADMIN_UI_READ_ONLY", "admin UI may look but not act (join, leave, disconnect, emit)"),
		choice(&a.Mode, "admin-ui-mode", "HERALD_ADMIN_UI_MODE", "development", "what the admin UI is told: sockets, rooms and events, or server stats only", "development", "production"),
		text(&a.Origins, "admin-ui-origins", "HERALD_ADMIN_UI_ORIGINS", "", "origins the admin UI is served from, comma-separated (CORS with credentials)"),
	}
}

// check is the settings' checks that span several of them.
func (a *AdminConfig) check(corsOrigins string) error {
	if !a.Enabled {
		return nil
	}
	if a.Origins != "" && strings.TrimSpace(corsOrigins) == "*" {
		return errors.New(`admin-ui-origins: the UI connects with credentials, which cors-origins "*" refuses: list the origins in cors-origins instead of "*"`)
	}
	for _, o := range splitList(a.Origins) {
		if o == "*" {
			return errors.New(`admin-ui-origins: "*": list the origins the UI is served from`)
		}
	}
	if a.NoAuth {
		return nil
	}
	if a.PasswordHash == "" {
		return errors.New("admin-ui-password-hash: required with admin-ui (or admin-ui-no-auth)")
	}
	if _, err := bcrypt.Cost([]byte(a.PasswordHash)); err != nil {
		return errors.New("admin-ui-password-hash: not a bcrypt hash ($2a$, $2b$ or $2y$)")
	}
	if a.User == "" {
		return errors.New("admin-ui-user: empty")
	}
	return nil
}

// options are the admin package's options; sessions are signed with a
// key of the cluster's secrets, so that every node takes them.
func (a *AdminConfig) options(c *Config) admin.Options {
	o := admin.Options{NoAuth: a.NoAuth, ReadOnly: a.ReadOnly, Production: a.Mode == "production"}
	if !a.NoAuth {
		o.Auth = &admin.BasicAuth{Username: a.User, PasswordHash: a.PasswordHash}
	}
	key := sha256.Sum256([]byte("herald admin ui\x00" + c.JWTSecret + "\x00" + c.APIKey))
	o.SessionKey = key[:]
	return o
}
