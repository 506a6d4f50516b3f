package postgres_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/adapter/postgres"
	"github.com/heraldio/herald/test/support"
)

// nodeDir is interop/postgres with its packages installed, or skips the
// test unless HERALD_NODE_INTEROP=1.
func nodeDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("HERALD_NODE_INTEROP") != "1" {
		t.Skip("set HERALD_NODE_INTEROP=1 to run against Node's postgres adapter")
	}
	dir, _ := filepath.Abs("../../interop/postgres")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	return dir
}

// A Node node with @socket.io/postgres-adapter and a Herald node share a
// database: broadcasts both ways (small, past NOTIFY's limit through the
// table, binary), to one socket each way, fetchSockets both ways,
// serverSideEmit with acks both ways, broadcasts with acks; and Node's
// @socket.io/postgres-emitter reaches Herald's clients.
func TestInteropWithNodePostgresAdapter(t *testing.T) {
	dir := nodeDir(t)
	dbURL := support.PostgresURL(t)
	u, _ := url.Parse(dbURL)
	schema := u.Query().Get("search_path")
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	o := options()
	o.TableName = schema + ".socket_io_attachments"
	env := []string{"DATABASE_URL=" + u.String(), "PREFIX=" + o.ChannelPrefix, "TABLE=" + o.TableName}
	nodeURL := support.StartNode(t, dir, "node-server.mjs", env...)
	h := serve(t, postgres.New(pool(t, dbURL), o))
	cn := support.Dial(t, nodeURL, "/socket.io/")
	idN := cn.Connect("/", "")
	ch := support.Dial(t, h.url, "/socket.io/")
	idH := ch.Connect("/", "")
	for _, c := range []*support.Conn{cn, ch} {
		c.Send(`421["join","mixed"]`)
		c.ExpectExact(`431[]`)
	}
	waitNodes(t, h, 2)
	cn.Send(`420["fetch"]`) // and Node hears Herald: it counts two nodes to answer
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(cn.Expect(`430[`), idH); cn.Send(`420["fetch"]`) {
		if time.Now().After(deadline) {
			t.Fatal("the Node node never heard the Herald node")
		}
		time.Sleep(50 * time.Millisecond)
	}

	cn.Send(`42["say","mixed","from node",{"n":1}]`)
	cn.ExpectExact(`42["said","from node",{"n":1}]`)
	ch.ExpectExact(`42["said","from node",{"n":1}]`)
	ch.Send(`42["say","mixed","from herald"]`) // socket.to: not back to the sender
	cn.ExpectExact(`42["said","from herald"]`)
	big := strings.Repeat("y", 12000)
	cn.Send(`42["say","mixed","` + big + `"]`)
	cn.ExpectExact(`42["said","` + big + `"]`)
	ch.ExpectExact(`42["said","` + big + `"]`)
	ch.Send(`42["say","mixed","` + big + `"]`)
	cn.ExpectExact(`42["said","` + big + `"]`)
	cn.Send(`42["say","` + idH + `","to herald's socket"]`)
	ch.ExpectExact(`42["said","to herald's socket"]`)
	ch.Send(`42["say","` + idN + `","to node's socket"]`)
	cn.ExpectExact(`42["said","to node's socket"]`)
	if err := h.io.Emit("bin", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*support.Conn{ch, cn} {
		c.ExpectExact(`451-["bin",{"_placeholder":true,"num":0}]`)
		if f := c.Next(); string(f.Data) != "\x01\x02" {
			t.Fatalf("attachment %q", f.Data)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	socks, err := h.io.FetchSockets(ctx)
	if err != nil || len(socks) != 2 {
		t.Fatalf("Herald's fetchSockets: %d %v", len(socks), err)
	}
	cn.Send(`422["fetch"]`)
	if m := cn.Expect(`432[`); !strings.Contains(m, idN) || !strings.Contains(m, idH) {
		t.Fatalf("Node's fetchSockets: %s", m)
	}
	got, err := h.io.Of("/").ServerSideEmitWithAck(ctx, "ping", "herald")
	if err != nil || len(got) != 1 || string(got[0].Raw(0)) != `"pong from node"` {
		t.Fatalf("Herald's serverSideEmitWithAck: %v %v", got, err)
	}
	cn.Send(`423["ssemit"]`)
	cn.ExpectExact(`433[["pong from herald"]]`)
	cn.Send(`424["ask","mixed"]`)
	for i, c := range []*support.Conn{cn, ch} {
		m := c.Expect(`42`)
		qid := strings.TrimSuffix(strings.TrimPrefix(m, "42"), `["q"]`)
		c.Send("43" + qid + `["answer ` + string(rune('A'+i)) + `"]`)
	}
	if m := cn.Expect(`434[`); !strings.Contains(m, `"answer A"`) || !strings.Contains(m, `"answer B"`) {
		t.Fatalf("Node's broadcast with acks: %s", m)
	}

	// Node's emitter, small and binary, reaches Herald's client.
	for _, args := range [][]string{{"mixed", "emitted", `{"x":1}`}, {"mixed", "emitted", "bin:0102"}} {
		emit := exec.Command("node", append([]string{"emit.mjs"}, args...)...)
		emit.Dir = dir
		emit.Env = append(os.Environ(), env...)
		if out, err := emit.CombinedOutput(); err != nil {
			t.Fatalf("emit.mjs: %v\n%s", err, out)
		}
	}
	ch.ExpectExact(`42["emitted",{"x":1}]`)
	ch.ExpectExact(`451-["emitted",{"_placeholder":true,"num":0}]`)
	if f := ch.Next(); string(f.Data) != "\x01\x02" {
		t.Fatalf("emitter's attachment %q", f.Data)
	}
}
