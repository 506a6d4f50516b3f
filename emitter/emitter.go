package emitter

import (
	"context"
	"encoding/json"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/internal/jsonstr"
	"github.com/heraldio/herald/socketio"
)

// UID marks the messages of an emitter, as Node's emitter does.
const UID = "emitter"

// Options configures an Emitter. Zero fields mean the defaults.
type Options struct {
	// Key prefixes the channels, as the adapter's Key. Default "socket.io".
	Key string
	// Parser encodes broadcasts. Default redisadapter.MsgpackParser, as
	// the adapters expect.
	Parser redisadapter.Parser
}

// Emitter targets a namespace ("/" by default).
type Emitter struct {
	rdb    redis.UniversalClient
	key    string
	nsp    string
	parser redisadapter.Parser
}

// New returns an Emitter for the main namespace that publishes with rdb.
func New(rdb redis.UniversalClient, opts *Options) *Emitter {
	e := &Emitter{rdb: rdb, key: "socket.io", nsp: "/", parser: redisadapter.MsgpackParser{}}
	if opts != nil {
		if opts.Key != "" {
			e.key = opts.Key
		}
		if opts.Parser != nil {
			e.parser = opts.Parser
		}
	}
	return e
}

// Of returns an Emitter for namespace nsp.
func (e *Emitter) Of(nsp string) *Emitter {
	if nsp == "" || nsp[0] != '/' {
		nsp = "/" + nsp
	}
	c := *e
	c.nsp = nsp
	return &c
}

func (e *Emitter) op() Operator { return Operator{e: e} }

// To selects the sockets in any of rooms.
func (e *Emitter) To(rooms ...string) Operator { return e.op().To(rooms...) }

// In is To.
func (e *Emitter) In(rooms ...string) Operator { return e.op().To(rooms...) }

// Except excludes the sockets in any of rooms.
func (e *Emitter) Except(rooms ...string) Operator { return e.op().Except(rooms...) }

// Volatile lets the event be dropped for clients not ready to receive it.
func (e *Emitter) Volatile() Operator { return e.op().Volatile() }

// Compress sets whether the event may be compressed (default true).
func (e *Emitter) Compress(on bool) Operator { return e.op().Compress(on) }

// Emit sends an event to every socket of the namespace.
func (e *Emitter) Emit(ctx context.Context, event string, args ...any) error {
	return e.op().Emit(ctx, event, args...)
}

// SocketsJoin makes every socket of the namespace join rooms.
func (e *Emitter) SocketsJoin(ctx context.Context, rooms ...string) error {
	return e.op().SocketsJoin(ctx, rooms...)
}

// SocketsLeave makes every socket of the namespace leave rooms.
func (e *Emitter) SocketsLeave(ctx context.Context, rooms ...string) error {
	return e.op().SocketsLeave(ctx, rooms...)
}

// DisconnectSockets disconnects every socket of the namespace; with
// closeConn, their whole connections.
func (e *Emitter) DisconnectSockets(ctx context.Context, closeConn bool) error {
	return e.op().DisconnectSockets(ctx, closeConn)
}

// ServerSideEmit sends an event to the namespace's servers (their
// OnServerSideEmit handlers). Arguments must not be binary, and no ack
// can come back.
func (e *Emitter) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	p, err := socketio.EventPacket(e.nsp, event, args...)
	if err != nil {
		return err
	}
	if len(p.Attachments) > 0 {
		return redisadapter.ErrBinaryServerSideEmit
	}
	return e.request(ctx, struct {
		UID  string          `json:"uid"`
		Type int             `json:"type"`
		Data json.RawMessage `json:"data"`
	}{UID, 6, p.Data})
}

// Operator selects sockets of a namespace; it is an immutable value.
type Operator struct {
	e          *Emitter
	rooms      []string
	except     []string
	volatile   bool
	noCompress bool
}

// To adds rooms to select.
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

// Volatile lets the event be dropped for clients not ready to receive it.
func (o Operator) Volatile() Operator { o.volatile = true; return o }

// Compress sets whether the event may be compressed (default true).
func (o Operator) Compress(on bool) Operator { o.noCompress = !on; return o }

// Emit publishes the event to the selected sockets of every node; []byte
// arguments travel as binary.
func (o Operator) Emit(ctx context.Context, event string, args ...any) error {
	p, err := socketio.EventPacket(o.e.nsp, event, args...)
	if err != nil {
		return err
	}
	// [uid, {type, data, nsp}, {rooms, flags, except}], in the order of
	// Node's emitter.
	msg := []byte(`["emitter",{"type":2,"data":`)
	msg = append(msg, p.Data...)
	msg = append(msg, `,"nsp":`...)
	msg = jsonstr.Append(msg, o.e.nsp)
	msg = append(msg, `},{"rooms":`...)
	msg = jsonstr.AppendStrings(msg, o.rooms)
	msg = append(msg, `,"flags":{`...)
	if o.volatile {
		msg = append(msg, `"volatile":true`...)
	}
	if o.noCompress {
		if o.volatile {
			msg = append(msg, ',')
		}
		msg = append(msg, `"compress":false`...)
	}
	msg = append(msg, `},"except":`...)
	msg = jsonstr.AppendStrings(msg, o.except)
	msg = append(msg, "}]"...)
	b, err := o.e.parser.Encode(msg, p.Attachments)
	if err != nil {
		return err
	}
	ch := o.e.key + "#" + o.e.nsp + "#"
	if len(o.rooms) == 1 {
		ch += o.rooms[0] + "#"
	}
	return o.e.rdb.Publish(ctx, ch, b).Err()
}

type opts struct {
	Rooms  []string `json:"rooms"`
	Except []string `json:"except"`
}

func (o Operator) opts() opts { return opts{Rooms: nonNil(o.rooms), Except: nonNil(o.except)} }

type roomsRequest struct {
	Type  int      `json:"type"`
	Opts  opts     `json:"opts"`
	Rooms []string `json:"rooms"`
}

// SocketsJoin makes the selected sockets of every node join rooms.
func (o Operator) SocketsJoin(ctx context.Context, rooms ...string) error {
	return o.e.request(ctx, roomsRequest{2, o.opts(), nonNil(rooms)})
}

// SocketsLeave makes the selected sockets of every node leave rooms.
func (o Operator) SocketsLeave(ctx context.Context, rooms ...string) error {
	return o.e.request(ctx, roomsRequest{3, o.opts(), nonNil(rooms)})
}

// DisconnectSockets disconnects the selected sockets of every node; with
// closeConn, their whole connections.
func (o Operator) DisconnectSockets(ctx context.Context, closeConn bool) error {
	return o.e.request(ctx, struct {
		Type  int  `json:"type"`
		Opts  opts `json:"opts"`
		Close bool `json:"close"`
	}{4, o.opts(), closeConn})
}

func (e *Emitter) request(ctx context.Context, r any) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return e.rdb.Publish(ctx, e.key+"-request#"+e.nsp+"#", b).Err()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
