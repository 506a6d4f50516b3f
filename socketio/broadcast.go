package socketio

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// BroadcastOperator selects sockets of a namespace and acts on them. It is
// an immutable value: each method returns a modified copy.
type BroadcastOperator struct {
	nsp    *Namespace
	rooms  []string
	except []string
	flags  BroadcastFlags
}

func (b BroadcastOperator) opts() *BroadcastOptions {
	return &BroadcastOptions{Rooms: b.rooms, Except: b.except, Flags: b.flags}
}

// To adds rooms to the selection.
func (b BroadcastOperator) To(rooms ...string) BroadcastOperator {
	b.rooms = append(append([]string(nil), b.rooms...), rooms...)
	return b
}

// In is To.
func (b BroadcastOperator) In(rooms ...string) BroadcastOperator { return b.To(rooms...) }

// Except excludes the sockets in rooms.
func (b BroadcastOperator) Except(rooms ...string) BroadcastOperator {
	b.except = append(append([]string(nil), b.except...), rooms...)
	return b
}

// Volatile allows the packet to be dropped for clients not ready for it.
func (b BroadcastOperator) Volatile() BroadcastOperator { b.flags.Volatile = true; return b }

// Local restricts the broadcast to this node.
func (b BroadcastOperator) Local() BroadcastOperator { b.flags.Local = true; return b }

// Compress sets whether the packet may be compressed.
func (b BroadcastOperator) Compress(on bool) BroadcastOperator { b.flags.NoCompress = !on; return b }

// Emit sends an event to the selected sockets. The packet is encoded once.
// It returns an error when the arguments cannot be encoded, or when the
// adapter reports that the broadcast may not reach the other nodes (its
// queue to them is full, it is closed): the local sockets have it all
// the same, and the adapter counts and logs what it dropped. The adapter
// gets a context that ends within 5 seconds.
func (b BroadcastOperator) Emit(event string, args ...any) error {
	p, err := eventPacket(b.nsp.name, event, args)
	if err != nil {
		return err
	}
	return b.nsp.adapter.Broadcast(adapterContext(), p, b.opts())
}

// EmitWithAck sends an event to the selected sockets and collects their
// answers. It returns when every reached socket has answered, or when ctx
// is done, with the answers so far and ErrAckTimeout; when the adapter
// reported that the broadcast may not reach the other nodes, the error
// wraps ErrAckTimeout and the adapter's error.
func (b BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	p, err := eventPacket(b.nsp.name, event, args)
	if err != nil {
		return nil, err
	}
	var (
		mu        sync.Mutex
		responses []Args
		expected  int
		counts    int
		done      = make(chan struct{})
		closed    bool
	)
	servers, _ := b.nsp.adapter.ServerCount(ctx)
	if b.flags.Local || servers < 1 {
		servers = 1
	}
	check := func() {
		if !closed && counts == servers && len(responses) >= expected {
			closed = true
			close(done)
		}
	}
	opts := b.opts()
	if dl, ok := ctx.Deadline(); ok {
		opts.Flags.Timeout = time.Until(dl)
	}
	aerr := b.nsp.adapter.BroadcastWithAck(ctx, p, opts, func(n int) {
		mu.Lock()
		expected += n
		counts++
		check()
		mu.Unlock()
	}, func(a Args) {
		mu.Lock()
		responses = append(responses, a)
		check()
		mu.Unlock()
	})
	select {
	case <-done:
		mu.Lock()
		defer mu.Unlock()
		return responses, nil
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		closed = true
		if aerr != nil {
			return append([]Args(nil), responses...), fmt.Errorf("%w: %w", ErrAckTimeout, aerr)
		}
		return append([]Args(nil), responses...), ErrAckTimeout
	}
}

// FetchSockets returns the selected sockets, on every node unless Local.
func (b BroadcastOperator) FetchSockets(ctx context.Context) ([]SocketInfo, error) {
	return b.nsp.adapter.FetchSockets(ctx, b.opts())
}

// SocketsJoin makes the selected sockets join rooms, on every node unless
// Local. Like Emit, it returns the adapter's error, with a context that
// ends within 5 seconds.
func (b BroadcastOperator) SocketsJoin(rooms ...string) error {
	return b.nsp.adapter.AddSockets(adapterContext(), b.opts(), rooms)
}

// SocketsLeave makes the selected sockets leave rooms, as SocketsJoin.
func (b BroadcastOperator) SocketsLeave(rooms ...string) error {
	return b.nsp.adapter.DelSockets(adapterContext(), b.opts(), rooms)
}

// DisconnectSockets disconnects the selected sockets, as SocketsJoin; with
// closeConn, their whole connections.
func (b BroadcastOperator) DisconnectSockets(closeConn bool) error {
	return b.nsp.adapter.DisconnectSockets(adapterContext(), b.opts(), closeConn)
}
