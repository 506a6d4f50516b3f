package redisadapter

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/socketio"
)

// NewSharded returns an AdapterFactory for Redis 7 sharded pub/sub
// (SPUBLISH, SSUBSCRIBE), compatible with Node's createShardedAdapter in
// its default "dynamic" subscription mode: messages {type, data, uid, nsp}
// (JSON, or msgpack when they carry binary) on "<key>#<nsp>#", on
// "<key>#<nsp>#<room>#" for a broadcast to one room (each node subscribes
// to the rooms its sockets are in), answers on "<key>#<nsp>#<uid>#". The
// number of nodes is PUBSUB SHARDNUMSUB. client publishes and subscribes.
func NewSharded(client redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	return NewShardedWithSubscriber(client, client, opts)
}

// NewShardedWithSubscriber is NewSharded with a separate client for the
// subscriptions.
func NewShardedWithSubscriber(pub, sub redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	o := optionsOrZero(opts)
	return func(nsp *socketio.Namespace) socketio.Adapter { return newSharded(nsp, pub, sub, o) }
}

var _ socketio.Adapter = (*Sharded)(nil)

// Sharded is the sharded adapter of one namespace.
type Sharded struct {
	*Cluster
	pub    redis.UniversalClient
	prefix string // "<key>#<nsp>#"
	sub    *subscription

	mu    sync.Mutex
	rooms map[string]int // room → local sockets, for room channel subscriptions
}

func newSharded(nsp *socketio.Namespace, pub, sub redis.UniversalClient, o Options) *Sharded {
	a := &Sharded{pub: pub, prefix: o.Key + "#" + nsp.Name() + "#", rooms: map[string]int{}}
	a.Cluster = NewCluster(nsp, randomID(16), pub, a, &o, 0)
	ctx, cancel := context.WithTimeout(context.Background(), o.RequestsTimeout)
	defer cancel()
	ps := sub.SSubscribe(ctx, a.prefix, a.prefix+a.uid+"#")
	a.sub = subscribe(ps, 2, o.RequestsTimeout, o.Logger, a.onMessage)
	return a
}

func (a *Sharded) onMessage(m *redis.Message) {
	if h, ok := decodeWhole(a.opts.Parser, []byte(m.Payload)); ok {
		a.Handle("", h.UID, h.Nsp, h.Type, h.Data, h.att)
	}
}

// wholeMessage is a cluster message sent whole over pub/sub: JSON, or
// msgpack when it carries binary (always msgpack from Node's streams
// adapter).
type wholeMessage struct {
	UID  string          `json:"uid"`
	Nsp  string          `json:"nsp"`
	Type int             `json:"type"`
	Data json.RawMessage `json:"data"`
	att  [][]byte
}

func decodeWhole(p Parser, payload []byte) (wholeMessage, bool) {
	var h wholeMessage
	msg := payload
	if len(payload) == 0 || payload[0] != '{' {
		var err error
		if msg, h.att, err = p.Decode(payload); err != nil {
			return h, false
		}
	}
	return h, json.Unmarshal(msg, &h) == nil
}

// encodeWhole encodes a message for pub/sub; msgpack forces msgpack even
// without binary.
func encodeWhole(p Parser, uid, nsp string, m *Message, msgpack bool) ([]byte, error) {
	msg := newObject().raw("type", appendInt(m.Type)).raw("data", m.Data).str("uid", uid).str("nsp", nsp).done()
	if len(m.Attachments) == 0 && !msgpack {
		return msg, nil
	}
	return p.Encode(msg, m.Attachments)
}

// Command implements Transport: SPUBLISH on the namespace's, a room's or
// a node's channel.
func (a *Sharded) Command(uid, nsp string, m *Message) ([]any, error) {
	ch := a.prefix
	switch {
	case m.To != "":
		ch += m.To + "#"
	case m.Room != "":
		ch += m.Room + "#"
	}
	msg, err := encodeWhole(a.opts.Parser, uid, nsp, m, false)
	if err != nil {
		return nil, err
	}
	return []any{"spublish", ch, msg}, nil
}

// ServerCount implements Transport with PUBSUB SHARDNUMSUB.
func (a *Sharded) ServerCount(ctx context.Context) (int, error) {
	res, err := a.pub.PubSubShardNumSub(ctx, a.prefix).Result()
	if err != nil {
		return 1, err
	}
	n := int(res[a.prefix])
	if n < 1 {
		n = 1
	}
	return n, nil
}

// Close stops the subscription and ends waiting requests.
func (a *Sharded) Close() error {
	err := a.sub.close()
	a.CloseRequests()
	return err
}

// AddAll joins rooms and subscribes to the channels of rooms new here.
func (a *Sharded) AddAll(id string, rooms []string) {
	a.MemoryAdapter.AddAll(id, rooms)
	var subs []string
	a.mu.Lock()
	for _, r := range rooms {
		if r == id || LooksLikeSocketID(r) {
			continue
		}
		if a.rooms[r]++; a.rooms[r] == 1 {
			subs = append(subs, a.prefix+r+"#")
		}
	}
	a.mu.Unlock()
	if len(subs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
		defer cancel()
		if err := a.sub.pubsub.SSubscribe(ctx, subs...); err != nil {
			a.opts.Logger.Warn("redisadapter: ssubscribe room", "err", err)
		}
	}
}

// Del leaves a room, unsubscribing when no local socket is left in it.
func (a *Sharded) Del(id, room string) {
	before := len(a.MemoryAdapter.SocketRooms(id))
	a.MemoryAdapter.Del(id, room)
	if len(a.MemoryAdapter.SocketRooms(id)) < before {
		a.release([]string{room}, id)
	}
}

// DelAll leaves every room.
func (a *Sharded) DelAll(id string) {
	rooms := a.MemoryAdapter.SocketRooms(id)
	a.MemoryAdapter.DelAll(id)
	a.release(rooms, id)
}

func (a *Sharded) release(rooms []string, id string) {
	var unsubs []string
	a.mu.Lock()
	for _, r := range rooms {
		if r == id || a.rooms[r] == 0 {
			continue
		}
		if a.rooms[r]--; a.rooms[r] == 0 {
			delete(a.rooms, r)
			unsubs = append(unsubs, a.prefix+r+"#")
		}
	}
	a.mu.Unlock()
	if len(unsubs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
		defer cancel()
		_ = a.sub.pubsub.SUnsubscribe(ctx, unsubs...)
	}
}

func appendInt(n int) []byte { return strconv.AppendInt(nil, int64(n), 10) }
