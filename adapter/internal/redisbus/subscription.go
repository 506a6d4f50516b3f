package redisbus

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscription reads a pub/sub subscription on one goroutine until
// closed. go-redis reconnects a broken subscription and subscribes again
// to its channels on its own; the adapter only logs.
type Subscription struct {
	// PubSub is the subscription, for subscribing to more channels.
	PubSub *redis.PubSub
	done   chan struct{}
}

// Subscribe waits for confirm subscription confirmations (so the node is
// counted, and reached, as soon as its namespace exists), then reads
// messages into handle.
func Subscribe(ps *redis.PubSub, confirm int, timeout time.Duration, log *slog.Logger, handle func(*redis.Message)) *Subscription {
	s := &Subscription{PubSub: ps, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	for confirm > 0 {
		m, err := ps.Receive(ctx)
		if err != nil {
			log.Warn("redis adapter: subscribe failed; retrying in the background", "err", err)
			break
		}
		switch m := m.(type) {
		case *redis.Subscription:
			confirm--
		case *redis.Message:
			handle(m)
		}
	}
	cancel()
	ch := ps.Channel(redis.WithChannelSize(1024))
	go func() {
		defer close(s.done)
		for m := range ch {
			handle(m)
		}
	}()
	return s
}

// Close stops reading and waits for the goroutine.
func (s *Subscription) Close() error {
	err := s.PubSub.Close()
	<-s.done
	return err
}
