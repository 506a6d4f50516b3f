package redisadapter

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// withDefaults fills the documented defaults.
func (o Options) withDefaults() Options {
	if o.Key == "" {
		o.Key = "socket.io"
	}
	if o.RequestsTimeout <= 0 {
		o.RequestsTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// subscription reads a pub/sub subscription on one goroutine until
// closed. confirm is how many subscription confirmations to wait for, so
// the node is counted (and reached) as soon as its namespace exists.
type subscription struct {
	pubsub *redis.PubSub
	cancel context.CancelFunc
	done   chan struct{}
}

func subscribe(ps *redis.PubSub, cancel context.CancelFunc, confirm int, log *slog.Logger, handle func(*redis.Message)) *subscription {
	s := &subscription{pubsub: ps, cancel: cancel, done: make(chan struct{})}
	ctx, rcancel := context.WithTimeout(context.Background(), 3*time.Second)
	for i := 0; i < confirm; i++ {
		if _, err := ps.Receive(ctx); err != nil {
			log.Warn("redisadapter: subscribe", "err", err)
			break
		}
	}
	rcancel()
	go func() {
		defer close(s.done)
		for m := range ps.Channel(redis.WithChannelSize(1024)) {
			handle(m)
		}
	}()
	return s
}

// close stops reading and waits for the goroutine.
func (s *subscription) close() error {
	s.cancel()
	err := s.pubsub.Close()
	<-s.done
	return err
}

// failAll ends every pending request; mu guards pending.
func failAll(mu *sync.Mutex, pending map[string]*pending) {
	mu.Lock()
	defer mu.Unlock()
	for id, p := range pending {
		p.finish()
		delete(pending, id)
	}
}
