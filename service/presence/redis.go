package presence

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewCluster starts a cluster tracker whose nodes share Redis, a hash per
// node ("<o.Prefix>:node:<id>", user id → entry); Close stops it.
func NewCluster(rdb redis.UniversalClient, o ClusterOptions) *Cluster {
	if o.Prefix == "" {
		o.Prefix = "herald:presence"
	}
	return NewClusterOn(&redisNodes{rdb: rdb, prefix: o.Prefix + ":node:"}, o)
}

// redisNodes keeps each node's users in a Redis hash of its own.
type redisNodes struct {
	rdb    redis.UniversalClient
	prefix string // + node id: the node's hash
}

// stored is an entry as the nodes' records keep it: with its audience
// rooms, which other nodes page by.
type stored struct {
	Entry
	Rooms []string `json:"rooms,omitempty"`
}

func encodeEntry(e Entry) []byte {
	b, _ := json.Marshal(stored{Entry: e, Rooms: e.Rooms})
	return b
}

func decodeEntry(b []byte) (Entry, bool) {
	var s stored
	if json.Unmarshal(b, &s) != nil {
		return Entry{}, false
	}
	s.Entry.Rooms = s.Rooms
	return s.Entry, true
}

// Write implements Nodes: the hash replaced in one transaction.
func (r *redisNodes) Write(ctx context.Context, node string, users []Entry, ttl time.Duration) (bool, error) {
	key := r.prefix + node
	pipe := r.rdb.TxPipeline()
	exists := pipe.Exists(ctx, key)
	pipe.Del(ctx, key)
	if len(users) > 0 {
		fields := make([]any, 0, 2*len(users))
		for _, e := range users {
			fields = append(fields, e.UserID, encodeEntry(e))
		}
		pipe.HSet(ctx, key, fields...)
		pipe.PExpire(ctx, key, ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false, err
	}
	return exists.Val() != 0, nil
}

// Read implements Nodes.
func (r *redisNodes) Read(ctx context.Context) (map[string]map[string]Entry, error) {
	out := map[string]map[string]Entry{}
	iter := r.rdb.Scan(ctx, 0, r.prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		m, err := r.rdb.HGetAll(ctx, iter.Val()).Result()
		if err != nil {
			return out, err
		}
		users := make(map[string]Entry, len(m))
		for id, v := range m {
			if e, ok := decodeEntry([]byte(v)); ok {
				users[id] = e
			}
		}
		out[strings.TrimPrefix(iter.Val(), r.prefix)] = users
	}
	return out, iter.Err()
}
