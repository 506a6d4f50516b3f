package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/socketio"
)

// hub carries cluster messages between the nodes of one process: a
// transport in a few lines. A transport over a broker publishes to it
// instead, and reads from it.
type hub struct {
	mu    sync.Mutex
	nodes []*hubNode
}

// hubNode is one namespace's adapter on the hub.
type hubNode struct {
	h  *hub
	c  *cluster.Cluster
	in chan *cluster.Message
}

// errFull says a node's queue was full.
var errFull = errors.New("hub: a node's queue is full")

// Publish implements cluster.Transport: a copy of m for every other node
// (or m.To only), queued without waiting; a full queue drops it.
func (n *hubNode) Publish(ctx context.Context, m *cluster.Message) error {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	var err error
	for _, o := range n.h.nodes {
		if o != n && (m.To == "" || m.To == o.c.UID()) {
			cp := *m
			select {
			case o.in <- &cp:
			default:
				err = errFull
			}
		}
	}
	return err
}

// hubAdapter is a cluster adapter over a hub.
type hubAdapter struct {
	*cluster.Cluster
	node *hubNode
	done chan struct{}
}

// factory returns the AdapterFactory of the hub's nodes.
func (h *hub) factory() socketio.AdapterFactory {
	return func(nsp *socketio.Namespace) socketio.Adapter {
		n := &hubNode{h: h, in: make(chan *cluster.Message, 1024)}
		a := &hubAdapter{Cluster: cluster.New(nsp, n, nil), node: n, done: make(chan struct{})}
		n.c = a.Cluster
		go func() { // the transport's reader
			defer close(a.done)
			for m := range n.in {
				a.Handle("", m)
			}
		}()
		h.mu.Lock()
		h.nodes = append(h.nodes, n)
		h.mu.Unlock()
		a.Start() // receiving: announce the node
		return a
	}
}

// Close closes the cluster part, then leaves the hub.
func (a *hubAdapter) Close(ctx context.Context) error {
	err := a.Cluster.Close(ctx)
	h := a.node.h
	h.mu.Lock()
	for i, n := range h.nodes {
		if n == a.node {
			h.nodes = append(h.nodes[:i], h.nodes[i+1:]...)
			break
		}
	}
	close(a.node.in)
	h.mu.Unlock()
	<-a.done
	return err
}

// Two servers share their namespaces' rooms, broadcasts and requests
// over a transport: here a hub in the same process.
func Example() {
	var h hub
	a := socketio.NewServer(&socketio.Options{Adapter: h.factory()})
	b := socketio.NewServer(&socketio.Options{Adapter: h.factory()})
	b.Of("/").OnServerSideEmit("ping", func(args socketio.Args, ack func(...any)) { ack("pong") })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for n := 0; n < 2 && ctx.Err() == nil; time.Sleep(10 * time.Millisecond) {
		n, _ = a.Of("/").Adapter().ServerCount(ctx) // b is counted once heard from
	}
	answers, err := a.Of("/").ServerSideEmitWithAck(ctx, "ping")
	if err == nil && len(answers) == 1 {
		s, _ := answers[0].String(0)
		fmt.Println(s)
	}
	_ = a.Shutdown(ctx)
	_ = b.Shutdown(ctx)
	// Output: pong
}
