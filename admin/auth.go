package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/heraldio/herald/socketio"
	"golang.org/x/crypto/bcrypt"
)

// errInvalidCredentials is the refusal the UI recognizes and words as
// its own "invalid credentials" message.
var errInvalidCredentials = &socketio.ConnectError{Message: "invalid credentials"}

// credentials is the auth payload the UI connects with: a session id, or
// a user name and password. Any other type is no credential.
type credentials struct {
	SessionID any `json:"sessionId"`
	Username  any `json:"username"`
	Password  any `json:"password"`
}

func credentialsOf(s *socketio.Socket) credentials {
	var c credentials
	_ = s.Handshake().BindAuth(&c)
	return c
}

// authenticate is the admin namespace's middleware.
func (a *Admin) authenticate(s *socketio.Socket) error {
	if a.closed.Load() {
		return &socketio.ConnectError{Message: "admin closed"}
	}
	if a.opts.NoAuth {
		return nil
	}
	c := credentialsOf(s)
	if id, ok := c.SessionID.(string); ok && a.validSession(id, time.Now()) {
		return nil
	}
	user, _ := c.Username.(string)
	pass, _ := c.Password.(string)
	if user == "" || pass == "" {
		return errInvalidCredentials
	}
	// Each comparison costs bcrypt's work: a flood of logins is refused,
	// not queued.
	select {
	case a.logins <- struct{}{}:
	default:
		return &socketio.ConnectError{Message: "too many login attempts, try again"}
	}
	defer func() { <-a.logins }()
	// Both compared whatever the first says: the time does not tell
	// which was wrong.
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.opts.Auth.Username)) == 1
	passOK := bcrypt.CompareHashAndPassword([]byte(a.opts.Auth.PasswordHash), []byte(pass)) == nil
	if !userOK || !passOK {
		a.log.Info("admin: login refused", "addr", s.Handshake().Address)
		return errInvalidCredentials
	}
	return nil
}

// loggedIn reports whether s came in with a user name and password (not
// a session), so it gets a session id.
func (a *Admin) loggedIn(s *socketio.Socket) bool {
	if a.opts.NoAuth {
		return false
	}
	id, ok := credentialsOf(s).SessionID.(string)
	return !ok || !a.validSession(id, time.Now())
}

// sessionKey derives the signing key of sessions from the secret and the
// login: a new password or user name ends the sessions of the old.
func sessionKey(secret []byte, auth *BasicAuth) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("herald admin session\x00"))
	if auth != nil {
		m.Write([]byte(auth.Username + "\x00" + auth.PasswordHash))
	}
	return m.Sum(nil)
}

// newSession returns a session id good until exp:
// <exp, base 36>.<16 random hex>.<HMAC-SHA256 of the two, base64url>.
func (a *Admin) newSession(exp time.Time) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	body := strconv.FormatInt(exp.Unix(), 36) + "." + hex.EncodeToString(r[:])
	return body + "." + a.sign(body)
}

func (a *Admin) sign(body string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validSession reports whether id is a session this admin's key signed
// that has not expired at t.
func (a *Admin) validSession(id string, t time.Time) bool {
	if len(id) > 128 {
		return false
	}
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return false
	}
	body, sig := id[:i], id[i+1:]
	if !hmac.Equal([]byte(sig), []byte(a.sign(body))) {
		return false
	}
	expPart, _, ok := strings.Cut(body, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(expPart, 36, 64)
	return err == nil && t.Unix() < exp
}
