package redisadapter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/heraldio/herald/socketio"
)

// Message types the streams variant adds (Node's cluster adapter with
// heartbeats).
const (
	shInitialHeartbeat = 1
	shHeartbeat        = 2
	shAdapterClose     = 13
)

const heartbeatInterval = 5 * time.Second

// StreamsOptions configures NewStreams.
type StreamsOptions struct {
	Options
	// StreamName is the Redis stream. Default "socket.io".
	StreamName string
	// MaxLen trims the stream (approximately). Default 10000.
	MaxLen int64
	// SessionKeyPrefix prefixes the keys of disconnected sessions.
	// Default "sio:session:".
	SessionKeyPrefix string
}

// NewStreams returns an AdapterFactory over one Redis stream, compatible
// with Node's @socket.io/redis-streams-adapter: every node appends its
// messages to the stream (fields uid, nsp, type, data) and reads everyone
// else's. The entry id of a broadcast is its recovery offset, and
// disconnected sessions are kept in Redis, so connection state recovery
// works across nodes: a client that comes back on another node gets what
// it missed.
func NewStreams(client redis.UniversalClient, opts *StreamsOptions) socketio.AdapterFactory {
	o := StreamsOptions{}
	if opts != nil {
		o = *opts
	}
	o.Options = o.Options.withDefaults()
	if o.StreamName == "" {
		o.StreamName = "socket.io"
	}
	if o.MaxLen <= 0 {
		o.MaxLen = 10000
	}
	if o.SessionKeyPrefix == "" {
		o.SessionKeyPrefix = "sio:session:"
	}
	return func(nsp *socketio.Namespace) socketio.Adapter { return newStreams(nsp, client, o) }
}

var _ socketio.Adapter = (*Streams)(nil)

// Streams is the streams adapter of one namespace.
type Streams struct {
	*Sharded
	so     StreamsOptions
	cancel context.CancelFunc
	done   chan struct{}
}

func newStreams(nsp *socketio.Namespace, rdb redis.UniversalClient, o StreamsOptions) *Streams {
	sh := &Sharded{MemoryAdapter: socketio.NewMemoryAdapter(nsp), nsp: nsp, rdb: rdb, opts: o.Options, uid: randomID(16),
		prefix: o.StreamName, pending: map[string]*pending{}, rooms: map[string]int{}, streams: true, nodes: map[string]time.Time{}}
	a := &Streams{Sharded: sh, so: o, done: make(chan struct{})}
	sh.send = a.xadd
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	// Read from the current end, then announce this node.
	start := "0-0" // an empty stream: everything from now on
	if last, err := rdb.XRevRangeN(ctx, o.StreamName, "+", "-", 1).Result(); err == nil && len(last) == 1 {
		start = last[0].ID
	}
	go a.read(ctx, start)
	sh.publish("", shInitialHeartbeat, nil)
	return a
}

func (a *Streams) xadd(ctx context.Context, _ string, typ int, data any, binary bool) (string, error) {
	fields := map[string]any{"uid": a.uid, "nsp": a.nsp.Name(), "type": strconv.Itoa(typ)}
	if data != nil {
		if binary {
			b, err := encodeMsgpack(data)
			if err != nil {
				return "", err
			}
			fields["data"] = base64.StdEncoding.EncodeToString(b)
		} else {
			b, err := json.Marshal(data)
			if err != nil {
				return "", err
			}
			fields["data"] = string(b)
		}
	}
	return a.rdb.XAdd(ctx, &redis.XAddArgs{Stream: a.so.StreamName, MaxLen: a.so.MaxLen, Approx: true, Values: fields}).Result()
}

// decodeEntry turns a stream entry into a message.
func decodeEntry(e redis.XMessage) map[string]any {
	msg := map[string]any{}
	msg["uid"], _ = e.Values["uid"].(string)
	msg["nsp"], _ = e.Values["nsp"].(string)
	t, _ := strconv.Atoi(toString(e.Values["type"]))
	msg["type"] = float64(t)
	if d, ok := e.Values["data"].(string); ok && d != "" {
		var v any
		if d[0] == '{' || d[0] == '[' {
			_ = json.Unmarshal([]byte(d), &v)
		} else if b, err := base64.StdEncoding.DecodeString(d); err == nil {
			_ = msgpack.Unmarshal(b, &v)
		}
		msg["data"] = v
	}
	return msg
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func (a *Streams) read(ctx context.Context, last string) {
	defer close(a.done)
	hb := time.NewTicker(heartbeatInterval)
	defer hb.Stop()
	for ctx.Err() == nil {
		select {
		case <-hb.C:
			a.publish("", shHeartbeat, nil)
		default:
		}
		res, err := a.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{a.so.StreamName, last}, Count: 100, Block: time.Second}).Result()
		if err != nil {
			if errors.Is(err, redis.Nil) || ctx.Err() != nil {
				continue
			}
			a.opts.Logger.Warn("redisadapter: stream read", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for _, s := range res {
			for _, e := range s.Messages {
				last = e.ID
				msg := decodeEntry(e)
				uid, _ := msg["uid"].(string)
				if uid == a.uid {
					continue
				}
				switch toInt(msg["type"]) {
				case shInitialHeartbeat, shHeartbeat:
					if n, _ := msg["nsp"].(string); n == a.nsp.Name() {
						a.mu.Lock()
						a.nodes[uid] = time.Now()
						a.mu.Unlock()
						if toInt(msg["type"]) == shInitialHeartbeat {
							a.publish("", shHeartbeat, nil)
						}
					}
				case shAdapterClose:
					a.mu.Lock()
					delete(a.nodes, uid)
					a.mu.Unlock()
				default:
					if _, ok := msg["data"].(map[string]any); ok {
						a.onMessage(e.ID, msg)
					}
				}
			}
		}
	}
}

// onMessage in streams mode answers requests on the stream too: the
// requester recognises its own requestId.
func (a *Streams) Close() error {
	a.publish("", shAdapterClose, nil)
	a.cancel()
	<-a.done
	failAll(&a.mu, a.pending)
	return nil
}

// AddAll and friends need no room channels with a stream.
func (a *Streams) AddAll(id string, rooms []string) { a.MemoryAdapter.AddAll(id, rooms) }

// Del leaves a room.
func (a *Streams) Del(id, room string) { a.MemoryAdapter.Del(id, room) }

// DelAll leaves every room.
func (a *Streams) DelAll(id string) { a.MemoryAdapter.DelAll(id) }

type storedSession struct {
	SID   string         `msgpack:"sid"`
	PID   string         `msgpack:"pid"`
	Rooms []string       `msgpack:"rooms"`
	Data  map[string]any `msgpack:"data"`
}

// PersistSession keeps a disconnected socket's session in Redis for the
// recovery window, where any node can find it.
func (a *Streams) PersistSession(s *socketio.Session) {
	rec := a.MemoryAdapter.Recovery()
	if rec == nil {
		return
	}
	b, err := encodeMsgpack(storedSession{SID: s.SID, PID: s.PID, Rooms: append([]string{s.SID}, s.Rooms...), Data: s.Data})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
	defer cancel()
	if err := a.rdb.Set(ctx, a.so.SessionKeyPrefix+s.PID, base64.StdEncoding.EncodeToString(b), rec.MaxDisconnectionDuration).Err(); err != nil {
		a.opts.Logger.Warn("redisadapter: persist session", "err", err)
	}
}

// RestoreSession takes the session pid and the broadcasts after offset
// that it missed, from the stream.
func (a *Streams) RestoreSession(ctx context.Context, pid, offset string) (*socketio.Session, error) {
	if a.MemoryAdapter.Recovery() == nil || pid == "" || offset == "" {
		return nil, nil
	}
	raw, err := a.rdb.GetDel(ctx, a.so.SessionKeyPrefix+pid).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, nil
	}
	var st storedSession
	if msgpack.Unmarshal(b, &st) != nil {
		return nil, nil
	}
	// The offset must still be in the stream, or what followed it is lost.
	if first, err := a.rdb.XRangeN(ctx, a.so.StreamName, offset, offset, 1).Result(); err != nil || len(first) == 0 {
		return nil, err
	}
	s := &socketio.Session{SID: st.SID, PID: st.PID, Data: st.Data}
	rooms := map[string]struct{}{}
	for _, r := range st.Rooms {
		rooms[r] = struct{}{}
		if r != st.SID {
			s.Rooms = append(s.Rooms, r)
		}
	}
	from := "(" + offset
	for {
		entries, err := a.rdb.XRangeN(ctx, a.so.StreamName, from, "+", 100).Result()
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			msg := decodeEntry(e)
			if toInt(msg["type"]) != shBroadcast || msg["nsp"] != a.nsp.Name() {
				continue
			}
			data, _ := msg["data"].(map[string]any)
			if data == nil || data["requestId"] != nil {
				continue
			}
			o := optsFrom(data["opts"])
			if o.Flags.Volatile || !inRooms(o, rooms) {
				continue
			}
			p, err := packetFrom(a.nsp.Name(), data["packet"])
			if err != nil {
				continue
			}
			p.Data = socketio.AppendOffset(p.Data, e.ID)
			s.MissedPackets = append(s.MissedPackets, p)
		}
		if len(entries) < 100 {
			break
		}
		from = "(" + entries[len(entries)-1].ID
	}
	return s, nil
}

func inRooms(o *socketio.BroadcastOptions, rooms map[string]struct{}) bool {
	for _, r := range o.Except {
		if _, ok := rooms[r]; ok {
			return false
		}
	}
	if len(o.Rooms) == 0 {
		return true
	}
	for _, r := range o.Rooms {
		if _, ok := rooms[r]; ok {
			return true
		}
	}
	return false
}
