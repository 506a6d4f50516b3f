package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/heraldio/herald/client"
)

func adminHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestAdminUIConfig(t *testing.T) {
	env := testEnv(t.TempDir())
	hash := adminHash(t, "changeit")
	c, err := Load(nil, env(nil))
	if err != nil || c.Admin.Enabled || c.Admin.User != "admin" || c.Admin.Mode != "development" {
		t.Fatalf("defaults %+v %v", c.Admin, err)
	}
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no hash":         {map[string]string{"HERALD_ADMIN_UI": "1"}, "admin-ui-password-hash"},
		"not bcrypt":      {map[string]string{"HERALD_ADMIN_UI": "1", "HERALD_ADMIN_UI_PASSWORD_HASH": "changeit"}, "not a bcrypt hash"},
		"bad mode":        {map[string]string{"HERALD_ADMIN_UI": "1", "HERALD_ADMIN_UI_NO_AUTH": "1", "HERALD_ADMIN_UI_MODE": "debug"}, "HERALD_ADMIN_UI_MODE"},
		"any origin":      {map[string]string{"HERALD_ADMIN_UI": "1", "HERALD_ADMIN_UI_NO_AUTH": "1", "HERALD_ADMIN_UI_ORIGINS": "*"}, "admin-ui-origins"},
		"cors any origin": {map[string]string{"HERALD_ADMIN_UI": "1", "HERALD_ADMIN_UI_NO_AUTH": "1", "HERALD_ADMIN_UI_ORIGINS": "https://admin.socket.io", "HERALD_CORS_ORIGINS": "*"}, "cors-origins"},
		"bad bool":        {map[string]string{"HERALD_ADMIN_UI": "maybe"}, "HERALD_ADMIN_UI"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(nil, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Load([]string{"-admin-ui-user="}, env(map[string]string{"HERALD_ADMIN_UI": "1", "HERALD_ADMIN_UI_PASSWORD_HASH": hash})); err == nil {
		t.Fatal("an empty user accepted")
	}
	// The file's keys are the flags' names.
	file := writeConfig(t, "admin-ui: true\nadmin-ui-user: root\nadmin-ui-password-hash: '"+hash+"'\nadmin-ui-read-only: true\n")
	c, err = Load([]string{"-config", file}, env(nil))
	if err != nil || !c.Admin.Enabled || c.Admin.User != "root" || c.Admin.PasswordHash != hash || !c.Admin.ReadOnly {
		t.Fatalf("from the file %+v %v", c.Admin, err)
	}
}

// The service with the admin UI on: the UI's origin passes CORS with
// credentials, a bad password is refused, the right one sees the chat
// sockets and disconnects one.
func TestAdminUIOfTheService(t *testing.T) {
	_, url := hardeningService(t, map[string]string{
		"HERALD_ADMIN_UI": "1", "HERALD_ADMIN_UI_PASSWORD_HASH": adminHash(t, "changeit"),
		"HERALD_ADMIN_UI_ORIGINS": "https://admin.example",
	})
	req, _ := http.NewRequest("GET", url+"/socket.io/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "https://admin.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "https://admin.example" || res.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("CORS for the UI: %v", res.Header)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(path string, auth any) (*client.Socket, error) {
		s, err := client.Dial(ctx, url+path, &client.Options{DisableReconnection: true, SocketOptions: client.SocketOptions{Auth: auth}})
		if err == nil {
			t.Cleanup(func() { _ = s.Close() })
		}
		return s, err
	}
	var ce *client.ConnectError
	if _, err := dial("/admin", map[string]any{"username": "admin", "password": "wrong"}); !errors.As(err, &ce) || ce.Message != "invalid credentials" {
		t.Fatalf("bad password: %v", err)
	}
	if _, err := dial("/admin", map[string]any{"token": token(t, "u-1", time.Hour)}); err == nil {
		t.Fatal("a user's token opened the admin namespace")
	}
	user, err := dial("/chat", map[string]any{"token": token(t, "u-ann", time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	userID := user.ID()

	ui, err := client.NewSocket(url+"/admin", &client.Options{DisableReconnection: true,
		SocketOptions: client.SocketOptions{Auth: map[string]any{"username": "admin", "password": "changeit"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ui.Close() })
	all := make(chan string, 1)
	ui.On("all_sockets", func(e *client.Event) { all <- string(e.Args.Raw(0)) })
	ui.Connect()
	if err := ui.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	var sockets []struct {
		ID, Nsp string
		Rooms   []string
	}
	if err := json.Unmarshal([]byte(<-all), &sockets); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range sockets {
		if s.ID == userID && s.Nsp == "/chat" && strings.Contains(strings.Join(s.Rooms, ","), "user:u-ann") {
			found = true
		}
	}
	if !found {
		t.Fatalf("the chat socket not among %+v", sockets)
	}
	gone := make(chan struct{})
	user.OnDisconnect(func(client.Reason) { close(gone) })
	a, err := ui.EmitWithAck(ctx, "_disconnect", "/chat", false, userID)
	if err != nil || string(a.Raw(0)) != `{"ok":true}` {
		t.Fatalf("disconnect: %v %v", a, err)
	}
	<-gone
}
