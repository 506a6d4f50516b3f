package redisadapter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/heraldio/herald/socketio"
)

// StreamsOptions configures NewStreams; package adapter/redisstreams
// documents them.
type StreamsOptions struct {
	Options
	// StreamName is the Redis stream. Default "socket.io".
	StreamName string
	// MaxLen trims the stream (approximately). Default 10000.
	MaxLen int64
	// ReadCount is how many entries one XREAD returns at most. Default 100.
	ReadCount int64
	// SessionKeyPrefix prefixes the keys of disconnected sessions.
	// Default "sio:session:".
	SessionKeyPrefix string
	// HeartbeatInterval is how often a node tells the others it is alive.
	// Default 5s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long a silent node is still counted.
	// Default 10s.
	HeartbeatTimeout time.Duration
	// ChannelPrefix names the pub/sub channels of what has no place in
	// the stream (requests, server-side emits, broadcasts with acks, and
	// the answers): "<prefix>#<nsp>#" and "<prefix>#<nsp>#<uid>#".
	// Default "socket.io".
	ChannelPrefix string
	// UseShardedPubSub sends those with SPUBLISH / SSUBSCRIBE.
	UseShardedPubSub bool
	// StreamsOnly sends everything through the stream, as Node's adapter
	// did before 0.3: for clusters with such nodes, or a Redis-compatible
	// server without pub/sub.
	StreamsOnly bool
	// OffsetWait bounds how long a broadcast waits for its entry id, the
	// recovery offset its local clients get. Past it, or at once while
	// Redis is known to be away, they get the last offset this node knows
	// instead, and the entry is written later. Default 50ms.
	OffsetWait time.Duration
}

func (o StreamsOptions) withDefaults() StreamsOptions {
	o.Options = o.Options.withDefaults()
	if o.StreamName == "" {
		o.StreamName = "socket.io"
	}
	if o.MaxLen <= 0 {
		o.MaxLen = 10000
	}
	if o.ReadCount <= 0 {
		o.ReadCount = 100
	}
	if o.SessionKeyPrefix == "" {
		o.SessionKeyPrefix = "sio:session:"
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 5 * time.Second
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 10 * time.Second
	}
	if o.ChannelPrefix == "" {
		o.ChannelPrefix = "socket.io"
	}
	if o.OffsetWait <= 0 {
		o.OffsetWait = 50 * time.Millisecond
	}
	return o
}

// NewStreams returns an AdapterFactory over one Redis stream, compatible
// with Node's @socket.io/redis-streams-adapter. New code should use
// redisstreams.New, which this is.
func NewStreams(client redis.UniversalClient, opts *StreamsOptions) socketio.AdapterFactory {
	var o StreamsOptions
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	return func(nsp *socketio.Namespace) socketio.Adapter { return newStreams(nsp, client, o) }
}

var _ socketio.Adapter = (*Streams)(nil)

// Streams is the streams adapter of one namespace.
type Streams struct {
	*Cluster
	rdb    redis.UniversalClient
	so     StreamsOptions
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	nmu   sync.Mutex
	nodes map[string]time.Time // other nodes by last heartbeat

	public string // pub/sub channel of the namespace
	sub    *subscription
}

func newStreams(nsp *socketio.Namespace, rdb redis.UniversalClient, o StreamsOptions) *Streams {
	a := &Streams{rdb: rdb, so: o, done: make(chan struct{}), nodes: map[string]time.Time{},
		public: o.ChannelPrefix + "#" + nsp.Name() + "#"}
	a.Cluster = NewCluster(nsp, randomID(16), rdb, a, &o.Options, o.OffsetWait)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if !o.StreamsOnly {
		sctx, scancel := context.WithTimeout(ctx, o.RequestsTimeout)
		channels := []string{a.public, a.public + a.uid + "#"}
		var ps *redis.PubSub
		if o.UseShardedPubSub {
			ps = rdb.SSubscribe(sctx, channels...)
		} else {
			ps = rdb.Subscribe(sctx, channels...)
		}
		scancel()
		a.sub = subscribe(ps, len(channels), o.RequestsTimeout, o.Logger, func(m *redis.Message) {
			if h, ok := decodeWhole(a.opts.Parser, []byte(m.Payload)); ok {
				a.dispatch("", entry{uid: h.UID, nsp: h.Nsp, typ: h.Type, data: h.Data, att: h.att})
			}
		})
	}
	// Read from the current end of the stream, then announce this node.
	start := "$"
	rctx, rcancel := context.WithTimeout(ctx, o.RequestsTimeout)
	if last, err := rdb.XRevRangeN(rctx, o.StreamName, "+", "-", 1).Result(); err == nil {
		start = "0-0"
		if len(last) == 1 {
			start = last[0].ID
			a.noteOffset(start)
		}
	}
	rcancel()
	go a.read(ctx, start)
	a.send(&Message{Type: MsgInitialHeartbeat})
	return a
}

// Command implements Transport: XADD to the stream, fields uid, nsp,
// type and data (JSON, or base64 msgpack when binary) as Node writes them;
// answers and ephemeral messages go over pub/sub as msgpack, as Node's
// adapter (0.3 and later) sends them, unless StreamsOnly.
func (a *Streams) Command(uid, nsp string, m *Message) ([]any, error) {
	if !a.so.StreamsOnly && (m.To != "" || m.Ephemeral) {
		ch := a.public
		if m.To != "" {
			ch += m.To + "#"
		}
		b, err := encodeWhole(a.opts.Parser, uid, nsp, m, true)
		if err != nil {
			return nil, err
		}
		if a.so.UseShardedPubSub {
			return []any{"spublish", ch, b}, nil
		}
		return []any{"publish", ch, b}, nil
	}
	args := []any{"xadd", a.so.StreamName, "maxlen", "~", a.so.MaxLen, "*", "uid", uid, "nsp", nsp, "type", strconv.Itoa(m.Type)}
	if len(m.Data) > 0 {
		if len(m.Attachments) > 0 {
			b, err := a.opts.Parser.Encode(m.Data, m.Attachments)
			if err != nil {
				return nil, err
			}
			args = append(args, "data", base64.StdEncoding.EncodeToString(b))
		} else {
			args = append(args, "data", string(m.Data))
		}
	}
	return args, nil
}

// ServerCount implements Transport: this node and those heard from within
// the heartbeat timeout.
func (a *Streams) ServerCount(ctx context.Context) (int, error) {
	a.nmu.Lock()
	defer a.nmu.Unlock()
	n := 1
	for uid, at := range a.nodes {
		if time.Since(at) < a.so.HeartbeatTimeout {
			n++
		} else {
			delete(a.nodes, uid)
		}
	}
	return n, nil
}

// entry is a decoded stream entry.
type entry struct {
	uid, nsp string
	typ      int
	data     json.RawMessage
	att      [][]byte
}

func (a *Streams) decodeEntry(e redis.XMessage) (entry, bool) {
	var m entry
	m.uid, _ = e.Values["uid"].(string)
	m.nsp, _ = e.Values["nsp"].(string)
	t, _ := e.Values["type"].(string)
	typ, err := strconv.Atoi(t)
	if err != nil {
		return m, false
	}
	m.typ = typ
	if d, _ := e.Values["data"].(string); d != "" {
		if d[0] == '{' || d[0] == '[' {
			m.data = json.RawMessage(d)
		} else {
			b, err := base64.StdEncoding.DecodeString(d)
			if err != nil {
				return m, false
			}
			if m.data, m.att, err = a.opts.Parser.Decode(b); err != nil {
				return m, false
			}
		}
	}
	return m, true
}

func (a *Streams) read(ctx context.Context, last string) {
	defer close(a.done)
	hb := time.NewTicker(a.so.HeartbeatInterval)
	defer hb.Stop()
	failing := false
	for ctx.Err() == nil {
		select {
		case <-hb.C:
			a.send(&Message{Type: MsgHeartbeat})
		default:
		}
		res, err := a.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{a.so.StreamName, last}, Count: a.so.ReadCount, Block: time.Second}).Result()
		if err != nil {
			if errors.Is(err, redis.Nil) || ctx.Err() != nil {
				continue
			}
			if !failing {
				a.opts.Logger.Warn("redisadapter: stream read failed; retrying", "stream", a.so.StreamName, "err", err)
				failing = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		if failing {
			a.opts.Logger.Info("redisadapter: stream read resumed", "stream", a.so.StreamName)
			failing = false
		}
		for _, s := range res {
			for _, e := range s.Messages {
				last = e.ID
				a.noteOffset(last)
				if m, ok := a.decodeEntry(e); ok {
					a.dispatch(e.ID, m)
				}
			}
		}
	}
}

// dispatch handles a message of another node read from the stream (with
// its offset) or from pub/sub. Any message proves its sender alive, as in
// Node's adapter.
func (a *Streams) dispatch(offset string, m entry) {
	if m.uid == a.uid || m.uid == "" || m.nsp != a.nsp.Name() {
		return
	}
	a.nmu.Lock()
	if m.uid != emitterUID {
		a.nodes[m.uid] = time.Now()
	}
	if m.typ == MsgAdapterClose {
		delete(a.nodes, m.uid)
	}
	a.nmu.Unlock()
	switch m.typ {
	case MsgInitialHeartbeat:
		a.send(&Message{Type: MsgHeartbeat})
	case MsgHeartbeat, MsgAdapterClose:
	default:
		a.Handle(offset, m.uid, m.nsp, m.typ, m.data, m.att)
	}
}

// Close tells the other nodes, stops reading and ends waiting requests.
func (a *Streams) Close() error {
	a.once.Do(func() {
		a.send(&Message{Type: MsgAdapterClose})
		a.cancel()
		<-a.done
		if a.sub != nil {
			_ = a.sub.close()
		}
		a.CloseRequests()
	})
	return nil
}

// storedSession is a session as Node's streams adapter keeps it: msgpack
// {sid, pid, rooms, data}, base64, rooms including the socket id.
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
	rooms := append([]string{s.SID}, s.Rooms...)
	b, err := msgpack.Marshal(storedSession{SID: s.SID, PID: s.PID, Rooms: rooms, Data: a.jsonForm(s.Data)})
	if err != nil {
		a.opts.Logger.Warn("redisadapter: persist session", "err", err)
		return
	}
	// Queued behind the broadcasts already sent, not waited for.
	a.out.push(&outItem{args: []any{"set", a.so.SessionKeyPrefix + s.PID, base64.StdEncoding.EncodeToString(b),
		"px", rec.MaxDisconnectionDuration.Milliseconds()}})
}

// jsonForm returns data as encoding/json decodes its JSON into a
// map[string]any (strings, float64, bool, nil, []any, map[string]any;
// structs by their json tags), whichever node wrote it: the form a
// session's data has after crossing nodes. A value JSON cannot encode is
// left out, with a warning.
func (a *Streams) jsonForm(data map[string]any) map[string]any {
	if data == nil {
		return nil
	}
	out := make(map[string]any, len(data))
	for k, v := range data {
		b, err := json.Marshal(v)
		var jv any
		if err == nil {
			err = json.Unmarshal(b, &jv)
		}
		if err != nil {
			a.opts.Logger.Warn("redisadapter: session data left out", "key", k, "err", err)
			continue
		}
		out[k] = jv
	}
	return out
}

const emitterUID = "emitter"

var streamOffset = regexp.MustCompile(`^[0-9]+-[0-9]+$`)

// maxRestoreReads bounds the XRANGE calls of one restore, should the
// stream grow faster than it is read.
const maxRestoreReads = 10

// RestoreSession takes the session pid out of Redis with the broadcasts
// after offset that it missed, read from the stream. It returns nil when
// the session expired or the offset left the stream, and at once while
// Redis is known to be away (the client connects anew).
func (a *Streams) RestoreSession(ctx context.Context, pid, offset string) (*socketio.Session, error) {
	if a.MemoryAdapter.Recovery() == nil || pid == "" || !streamOffset.MatchString(offset) || a.out.down.Load() {
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
	s := &socketio.Session{SID: st.SID, PID: st.PID, Data: a.jsonForm(st.Data)}
	rooms := map[string]struct{}{}
	for _, r := range st.Rooms {
		rooms[r] = struct{}{}
		if r != st.SID {
			s.Rooms = append(s.Rooms, r)
		}
	}
	from := "(" + offset
	for i := 0; i < maxRestoreReads; i++ {
		entries, err := a.rdb.XRangeN(ctx, a.so.StreamName, from, "+", 1000).Result()
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			m, ok := a.decodeEntry(e)
			if !ok || m.typ != MsgBroadcast || m.nsp != a.nsp.Name() {
				continue
			}
			var d clusterData
			if json.Unmarshal(m.data, &d) != nil || d.RequestID != "" {
				continue
			}
			o := d.Opts.options()
			if o.Flags.Volatile || !inRooms(o, rooms) {
				continue
			}
			var wp wirePacket
			if json.Unmarshal(d.Packet, &wp) != nil {
				continue
			}
			p, err := wp.packet(a.nsp.Name(), m.att)
			if err != nil {
				continue
			}
			p.Data = socketio.AppendOffset(p.Data, e.ID)
			s.MissedPackets = append(s.MissedPackets, p)
		}
		if len(entries) < 1000 {
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
