// Package emitter sends Socket.IO events from any Go process through
// Redis, to the sockets of a cluster that uses the Redis adapter (Herald's
// adapter/redisadapter or Node's @socket.io/redis-adapter), as Node's
// @socket.io/redis-emitter does: same channels, same messages, uid
// "emitter".
//
//	e := emitter.New(redisClient, nil)
//	e.To("user:42").Emit(ctx, "notification", map[string]any{"title": "hi"})
//	e.Of("/chat").In("room:general").SocketsJoin(ctx, "announcements")
//
// An Emitter is safe for concurrent use and owns no goroutine.
package emitter

import (
	"context"
	"encoding/json"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/heraldio/herald/socketio"
)

// uid marks messages that come from an emitter, not a server.
const uid = "emitter"

// Options configures an Emitter.
type Options struct {
	// Key prefixes the channels, as the adapter's Key. Default "socket.io".
	Key string
}

// Emitter targets a namespace ("/" by default).
type Emitter struct {
	rdb redis.UniversalClient
	key string
	nsp string
}

// New returns an Emitter for the main namespace.
func New(rdb redis.UniversalClient, opts *Options) *Emitter {
	key := "socket.io"
	if opts != nil && opts.Key != "" {
		key = opts.Key
	}
	return &Emitter{rdb: rdb, key: key, nsp: "/"}
}

// Of returns an Emitter for another namespace.
func (e *Emitter) Of(nsp string) *Emitter {
	if nsp == "" || nsp[0] != '/' {
		nsp = "/" + nsp
	}
	return &Emitter{rdb: e.rdb, key: e.key, nsp: nsp}
}

// Operator selects sockets; it is an immutable value.
type Operator struct {
	e        *Emitter
	rooms    []string
	except   []string
	volatile bool
}

// To selects sockets in rooms.
func (e *Emitter) To(rooms ...string) Operator { return Operator{e: e}.To(rooms...) }

// In is To.
func (e *Emitter) In(rooms ...string) Operator { return e.To(rooms...) }

// Except excludes sockets in rooms.
func (e *Emitter) Except(rooms ...string) Operator { return Operator{e: e}.Except(rooms...) }

// Emit sends an event to every socket of the namespace.
func (e *Emitter) Emit(ctx context.Context, event string, args ...any) error {
	return Operator{e: e}.Emit(ctx, event, args...)
}

// ServerSideEmit sends an event to the namespace's servers.
func (e *Emitter) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	data, err := json.Marshal(append([]any{event}, args...))
	if err != nil {
		return err
	}
	return e.request(ctx, map[string]any{"uid": uid, "type": 6, "data": json.RawMessage(data)})
}

// To adds rooms.
func (o Operator) To(rooms ...string) Operator {
	o.rooms = append(append([]string(nil), o.rooms...), rooms...)
	return o
}

// In is To.
func (o Operator) In(rooms ...string) Operator { return o.To(rooms...) }

// Except adds rooms to exclude.
func (o Operator) Except(rooms ...string) Operator {
	o.except = append(append([]string(nil), o.except...), rooms...)
	return o
}

// Volatile lets the event be dropped for clients not ready for it.
func (o Operator) Volatile() Operator { o.volatile = true; return o }

type wirePacket struct {
	Type int    `msgpack:"type"`
	Data []any  `msgpack:"data"`
	Nsp  string `msgpack:"nsp"`
}

type wireOpts struct {
	Rooms  []string       `msgpack:"rooms"`
	Flags  map[string]any `msgpack:"flags"`
	Except []string       `msgpack:"except"`
}

// Emit publishes the event; []byte arguments travel as binary.
func (o Operator) Emit(ctx context.Context, event string, args ...any) error {
	if _, err := socketio.EventPacket(o.e.nsp, event, args...); err != nil {
		return err // same encoding rules as a server emit
	}
	flags := map[string]any{}
	if o.volatile {
		flags["volatile"] = true
	}
	msg, err := msgpack.Marshal([]any{uid,
		wirePacket{Type: 2, Data: append([]any{event}, generic(args)...), Nsp: o.e.nsp},
		wireOpts{Rooms: nonNil(o.rooms), Flags: flags, Except: nonNil(o.except)}})
	if err != nil {
		return err
	}
	ch := o.e.key + "#" + o.e.nsp + "#"
	if len(o.rooms) == 1 {
		ch += o.rooms[0] + "#"
	}
	return o.e.rdb.Publish(ctx, ch, msg).Err()
}

func (o Operator) opts() map[string]any {
	return map[string]any{"rooms": nonNil(o.rooms), "except": nonNil(o.except)}
}

// SocketsJoin makes the selected sockets join rooms.
func (o Operator) SocketsJoin(ctx context.Context, rooms ...string) error {
	return o.e.request(ctx, map[string]any{"type": 2, "opts": o.opts(), "rooms": rooms})
}

// SocketsLeave makes the selected sockets leave rooms.
func (o Operator) SocketsLeave(ctx context.Context, rooms ...string) error {
	return o.e.request(ctx, map[string]any{"type": 3, "opts": o.opts(), "rooms": rooms})
}

// DisconnectSockets disconnects the selected sockets.
func (o Operator) DisconnectSockets(ctx context.Context, close bool) error {
	return o.e.request(ctx, map[string]any{"type": 4, "opts": o.opts(), "close": close})
}

func (e *Emitter) request(ctx context.Context, r map[string]any) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return e.rdb.Publish(ctx, e.key+"-request#"+e.nsp+"#", b).Err()
}

// generic turns values msgpack would encode differently from JSON (such
// as structs, which would use Go field names) into their JSON form, so the
// receivers see what a server emit would send. []byte stays binary.
func generic(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch a.(type) {
		case nil, string, bool, int, int64, float64, []byte, map[string]any, []any:
			out[i] = a
		default:
			var v any
			if b, err := json.Marshal(a); err == nil && json.Unmarshal(b, &v) == nil {
				out[i] = v
			} else {
				out[i] = a
			}
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
