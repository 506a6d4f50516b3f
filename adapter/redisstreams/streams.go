package redisstreams

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/adapter/internal/redisbus"
	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/socketio"
)

// New returns the AdapterFactory: each namespace gets an Adapter reading
// and appending to the stream with client.
func New(client redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	var o Options
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	return func(nsp *socketio.Namespace) socketio.Adapter { return newAdapter(nsp, client, o) }
}

var (
	_ socketio.Adapter       = (*Adapter)(nil)
	_ socketio.SessionKeeper = (*Adapter)(nil)
)

// Adapter is the streams adapter of one namespace: a cluster.Cluster over
// the stream, with the sessions of connection state recovery in Redis.
type Adapter struct {
	*cluster.Cluster
	bus    *bus
	rdb    redis.UniversalClient
	o      Options
	cancel context.CancelFunc
	done   chan struct{}
	sub    *redisbus.Subscription
	once   sync.Once

	lmu       sync.Mutex
	live      map[string]*socketio.Session // kept sessions of connected sockets, by pid
	refresh   sync.Once                    // starts the refresher with the first kept session
	refreshed sync.WaitGroup               // the refresher
}

// bus is the cluster.Transport of an Adapter: the stream, and pub/sub for
// what has no place in it.
type bus struct {
	o      Options
	out    *redisbus.Outbox
	public string // pub/sub channel of the namespace

	omu  sync.Mutex
	last string // the latest offset this node knows
}

var (
	_ cluster.OffsetTransport = (*bus)(nil)
	_ cluster.Reachability    = (*bus)(nil)
)

func newAdapter(nsp *socketio.Namespace, rdb redis.UniversalClient, o Options) *Adapter {
	b := &bus{o: o, public: o.ChannelPrefix + "#" + nsp.Name() + "#",
		out: redisbus.NewOutbox(rdb, nsp.Name(), o.QueueSize, o.RequestsTimeout, o.Logger, nil)}
	a := &Adapter{bus: b, rdb: rdb, o: o, done: make(chan struct{}),
		Cluster: cluster.New(nsp, b, &cluster.Options{RequestsTimeout: o.RequestsTimeout,
			HeartbeatInterval: o.HeartbeatInterval, HeartbeatTimeout: o.HeartbeatTimeout})}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if !o.StreamsOnly {
		sctx, scancel := context.WithTimeout(ctx, o.RequestsTimeout)
		channels := []string{b.public, b.public + a.UID() + "#"}
		var ps *redis.PubSub
		if o.UseShardedPubSub {
			ps = rdb.SSubscribe(sctx, channels...)
		} else {
			ps = rdb.Subscribe(sctx, channels...)
		}
		scancel()
		a.sub = redisbus.Subscribe(ps, len(channels), o.RequestsTimeout, o.Logger, func(m *redis.Message) {
			if msg, ok := redisbus.DecodeMessage(o.Parser, []byte(m.Payload)); ok {
				a.Handle("", msg)
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
			b.noteOffset(start)
		}
	}
	rcancel()
	go a.read(ctx, start)
	a.Start()
	return a
}

// command returns the Redis command that carries m: XADD to the stream,
// fields uid, nsp, type and data (JSON, or base64 msgpack when binary) as
// Node writes them; answers and ephemeral messages go over pub/sub as
// msgpack, as Node's adapter (0.3 and later) sends them, unless
// StreamsOnly.
func (b *bus) command(m *cluster.Message) ([]any, error) {
	if !b.o.StreamsOnly && (m.To != "" || m.Ephemeral) {
		ch := b.public
		if m.To != "" {
			ch += m.To + "#"
		}
		msg, err := redisbus.EncodeMessage(b.o.Parser, m, true)
		if err != nil {
			return nil, err
		}
		if b.o.UseShardedPubSub {
			return []any{"spublish", ch, msg}, nil
		}
		return []any{"publish", ch, msg}, nil
	}
	args := []any{"xadd", b.o.StreamName, "maxlen", "~", b.o.MaxLen, "*", "uid", m.UID, "nsp", m.Nsp, "type", strconv.Itoa(int(m.Type))}
	if len(m.Data) > 0 {
		if len(m.Attachments) > 0 {
			enc, err := b.o.Parser.Encode(m.Data, m.Attachments)
			if err != nil {
				return nil, err
			}
			args = append(args, "data", base64.StdEncoding.EncodeToString(enc))
		} else {
			args = append(args, "data", string(m.Data))
		}
	}
	return args, nil
}

// item returns the queue item of m, or the error (logged) that m cannot
// be encoded.
func (b *bus) item(m *cluster.Message) (*redisbus.Item, error) {
	args, err := b.command(m)
	if err != nil {
		b.o.Logger.Warn("redisstreams: encode", "nsp", m.Nsp, "type", m.Type, "err", err)
		return nil, err
	}
	return b.out.ItemFor(m, args), nil
}

// Publish implements cluster.Transport: the command of m, queued.
func (b *bus) Publish(ctx context.Context, m *cluster.Message) error {
	it, err := b.item(m)
	if err != nil {
		return err
	}
	return b.out.Push(it)
}

// PublishOffset implements cluster.OffsetTransport: it waits (at most
// OffsetWait or until ctx is done, and not while Redis is known to be
// away) for the entry id of m, else returns the latest offset this node
// knows.
func (b *bus) PublishOffset(ctx context.Context, m *cluster.Message) (string, error) {
	it, err := b.item(m)
	if err != nil {
		return b.lastOffset(), err
	}
	wait := !b.out.Down()
	if wait {
		it.Reply = make(chan string, 1)
	}
	if err := b.out.Push(it); err != nil || !wait {
		return b.lastOffset(), err
	}
	t := time.NewTimer(b.o.OffsetWait)
	defer t.Stop()
	select {
	case off := <-it.Reply:
		if off == "" {
			return b.lastOffset(), nil
		}
		b.noteOffset(off)
		return off, nil
	case <-t.C:
		b.out.MarkDown() // the next ones do not wait until a send succeeds
	case <-ctx.Done():
	}
	return b.lastOffset(), nil
}

// Reachable implements cluster.Reachability: false while Redis is known
// to be away.
func (b *bus) Reachable() bool { return !b.out.Down() }

// noteOffset records off as the latest offset known if it is later.
func (b *bus) noteOffset(off string) {
	if off == "" {
		return
	}
	b.omu.Lock()
	if laterOffset(off, b.last) {
		b.last = off
	}
	b.omu.Unlock()
}

func (b *bus) lastOffset() string {
	b.omu.Lock()
	defer b.omu.Unlock()
	return b.last
}

// laterOffset reports whether stream id a ("<ms>-<seq>") comes after b.
func laterOffset(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	if len(am) != len(bm) {
		return len(am) > len(bm)
	}
	if am != bm {
		return am > bm
	}
	if len(as) != len(bs) {
		return len(as) > len(bs)
	}
	return as > bs
}

// Stats returns the counts of the messages sent to Redis.
func (a *Adapter) Stats() redisadapter.Stats { return redisadapter.Stats(a.bus.out.Stats()) }

// decodeEntry decodes a stream entry.
func (a *Adapter) decodeEntry(e redis.XMessage) (*cluster.Message, bool) {
	m := &cluster.Message{}
	m.UID, _ = e.Values["uid"].(string)
	m.Nsp, _ = e.Values["nsp"].(string)
	t, _ := e.Values["type"].(string)
	typ, err := strconv.Atoi(t)
	if err != nil {
		return m, false
	}
	m.Type = cluster.MessageType(typ)
	if d, _ := e.Values["data"].(string); d != "" {
		if d[0] == '{' || d[0] == '[' {
			m.Data = json.RawMessage(d)
		} else {
			b, err := base64.StdEncoding.DecodeString(d)
			if err != nil {
				return m, false
			}
			if m.Data, m.Attachments, err = a.o.Parser.Decode(b); err != nil {
				return m, false
			}
		}
	}
	return m, true
}

func (a *Adapter) read(ctx context.Context, last string) {
	defer close(a.done)
	failing := false
	for ctx.Err() == nil {
		res, err := a.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{a.o.StreamName, last}, Count: a.o.ReadCount, Block: time.Second}).Result()
		if err != nil {
			if errors.Is(err, redis.Nil) || ctx.Err() != nil {
				continue
			}
			if !failing {
				a.o.Logger.Warn("redisstreams: stream read failed; retrying", "stream", a.o.StreamName, "err", err)
				failing = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		if failing {
			a.o.Logger.Info("redisstreams: stream read resumed", "stream", a.o.StreamName)
			failing = false
		}
		for _, s := range res {
			for _, e := range s.Messages {
				last = e.ID
				a.bus.noteOffset(last)
				if m, ok := a.decodeEntry(e); ok {
					a.Handle(e.ID, m)
				}
			}
		}
	}
}

// Close tells the other nodes, stops reading, ends waiting requests, then
// sends what is still queued (if Redis answers within RequestsTimeout,
// whatever ctx) and stops the sending goroutine.
func (a *Adapter) Close(ctx context.Context) error {
	a.once.Do(func() {
		_ = a.Cluster.Close(ctx)
		a.cancel()
		<-a.done
		a.refreshed.Wait()
		if a.sub != nil {
			_ = a.sub.Close()
		}
		a.bus.out.Close()
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
// recovery window, where any node can find it. It queues the session
// behind the broadcasts already sent and does not wait for Redis; an
// error says it was dropped.
func (a *Adapter) PersistSession(ctx context.Context, s *socketio.Session) error {
	rec := a.MemoryAdapter.Recovery()
	if rec == nil {
		return nil
	}
	a.lmu.Lock()
	delete(a.live, s.PID)
	a.lmu.Unlock()
	return a.setSession(s, rec.MaxDisconnectionDuration)
}

// KeepSession keeps the session of a connected socket in Redis, as
// PersistSession does at its disconnection, so that a client of a node
// killed without seeing it leave is restored on another node. The
// sessions of connected sockets are written again every half
// MaxDisconnectionDuration (one SET per socket), each to live
// MaxDisconnectionDuration past the next write: a client has the whole
// window after its node last wrote.
func (a *Adapter) KeepSession(ctx context.Context, s *socketio.Session) error {
	rec := a.MemoryAdapter.Recovery()
	if rec == nil {
		return nil
	}
	a.lmu.Lock()
	if a.live == nil {
		a.live = map[string]*socketio.Session{}
	}
	a.live[s.PID] = s
	a.lmu.Unlock()
	a.refresh.Do(func() {
		a.refreshed.Add(1)
		go a.refreshLive(a.keepEvery(rec.MaxDisconnectionDuration), rec.MaxDisconnectionDuration)
	})
	return a.setSession(s, rec.MaxDisconnectionDuration+a.keepEvery(rec.MaxDisconnectionDuration))
}

// ForgetSession deletes the kept session of a socket that left for good.
func (a *Adapter) ForgetSession(ctx context.Context, s *socketio.Session) error {
	a.lmu.Lock()
	_, kept := a.live[s.PID]
	delete(a.live, s.PID)
	a.lmu.Unlock()
	if !kept {
		return nil
	}
	return a.bus.out.Push(&redisbus.Item{Args: []any{"del", a.o.SessionKeyPrefix + s.PID}})
}

// keepEvery is how often the sessions of connected sockets are written.
func (a *Adapter) keepEvery(window time.Duration) time.Duration {
	return max(window/2, time.Second)
}

// refreshLive writes the kept sessions again every interval, each to live
// window past the next write, until the adapter closes.
func (a *Adapter) refreshLive(every, window time.Duration) {
	defer a.refreshed.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			return
		case <-t.C:
		}
		a.lmu.Lock()
		live := make([]*socketio.Session, 0, len(a.live))
		for _, s := range a.live {
			live = append(live, s)
		}
		a.lmu.Unlock()
		for _, s := range live {
			_ = a.setSession(s, window+every)
		}
	}
}

// setSession writes s for ttl, queued.
func (a *Adapter) setSession(s *socketio.Session, ttl time.Duration) error {
	rooms := append([]string{s.SID}, s.Rooms...)
	b, err := msgpack.Marshal(storedSession{SID: s.SID, PID: s.PID, Rooms: rooms, Data: a.jsonForm(s.Data)})
	if err != nil {
		return fmt.Errorf("redisstreams: persist session: %w", err)
	}
	return a.bus.out.Push(&redisbus.Item{Args: []any{"set", a.o.SessionKeyPrefix + s.PID, base64.StdEncoding.EncodeToString(b),
		"px", ttl.Milliseconds()}})
}

// jsonForm returns data as encoding/json decodes its JSON into a
// map[string]any (strings, float64, bool, nil, []any, map[string]any;
// structs by their json tags), whichever node wrote it: the form a
// session's data has after crossing nodes. A value JSON cannot encode is
// left out, with a warning.
func (a *Adapter) jsonForm(data map[string]any) map[string]any {
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
			a.o.Logger.Warn("redisstreams: session data left out", "key", k, "err", err)
			continue
		}
		out[k] = jv
	}
	return out
}

var streamOffset = regexp.MustCompile(`^[0-9]+-[0-9]+$`)

// maxRestoreReads bounds the XRANGE calls of one restore, should the
// stream grow faster than it is read.
const maxRestoreReads = 10

// RestoreSession takes the session pid out of Redis with the broadcasts
// after offset that it missed, read from the stream. It returns nil when
// the session expired or the offset left the stream, and at once while
// Redis is known to be away (the client connects anew).
func (a *Adapter) RestoreSession(ctx context.Context, pid, offset string) (*socketio.Session, error) {
	if a.MemoryAdapter.Recovery() == nil || pid == "" || !streamOffset.MatchString(offset) || a.bus.out.Down() {
		return nil, nil
	}
	raw, err := a.rdb.GetDel(ctx, a.o.SessionKeyPrefix+pid).Result()
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
	if first, err := a.rdb.XRangeN(ctx, a.o.StreamName, offset, offset, 1).Result(); err != nil || len(first) == 0 {
		return nil, err
	}
	s := &socketio.Session{SID: st.SID, PID: st.PID, Data: a.jsonForm(st.Data)}
	for _, r := range st.Rooms {
		if r != st.SID {
			s.Rooms = append(s.Rooms, r)
		}
	}
	nsp := a.Namespace().Name()
	from := "(" + offset
	for i := 0; i < maxRestoreReads; i++ {
		entries, err := a.rdb.XRangeN(ctx, a.o.StreamName, from, "+", 1000).Result()
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			m, ok := a.decodeEntry(e)
			if !ok || m.Nsp != nsp {
				continue
			}
			if p, o, ok := cluster.BroadcastPacket(m); ok {
				s.AddMissed(p, o, e.ID)
			}
		}
		if len(entries) < 1000 {
			break
		}
		from = "(" + entries[len(entries)-1].ID
	}
	return s, nil
}
