package socketio_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldio/herald/socketio"
)

// closeCounting is a MemoryAdapter that records its Close calls.
type closeCounting struct {
	*socketio.MemoryAdapter
	closes *atomic.Int32 // shared by the adapters of a test
	own    atomic.Int32  // this adapter's
}

func (a *closeCounting) Close(ctx context.Context) error {
	a.closes.Add(1)
	a.own.Add(1)
	return nil
}

// An adapter factory that blocks (a slow cluster adapter) for one dynamic
// namespace holds up only the clients of that namespace.
func TestSlowAdapterFactoryDoesNotBlockOtherConnects(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	io, url := newServer(t, &socketio.Options{Adapter: func(n *socketio.Namespace) socketio.Adapter {
		if n.Name() == "/slow-1" {
			once.Do(func() { close(entered) })
			<-release
		}
		return socketio.NewMemoryAdapter(n)
	}})
	t.Cleanup(func() { close(release) }) // before the server shuts down
	io.OfRegexp(regexp.MustCompile(`^/slow-\d+$`))

	slow := dial(t, url)
	slow.Send("40/slow-1,")
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the adapter factory was not called")
	}
	other := dial(t, url)
	other.Send("40")
	other.Send("40/slow-2,")
	for i := 0; i < 2; i++ {
		if f, ok := other.TryNext(2 * time.Second); !ok || !strings.HasPrefix(string(f.Data), "40") {
			t.Fatalf("CONNECT %d not answered while another namespace is being created: %q", i, f.Data)
		}
	}
	release <- struct{}{} // the slow namespace completes too
	slow.Expect("40/slow-1,")
}

// Two goroutines creating the same namespace get the same one; the
// adapter built in vain is closed.
func TestConcurrentOfBuildsOneNamespace(t *testing.T) {
	var built, closes atomic.Int32
	io, _ := newServer(t, &socketio.Options{Adapter: func(n *socketio.Namespace) socketio.Adapter {
		if n.Name() == "/x" {
			built.Add(1)
			// Wait for the other caller, if it can get here (it cannot
			// while a lock is held).
			for deadline := time.Now().Add(time.Second); built.Load() < 2 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
		}
		return &closeCounting{MemoryAdapter: socketio.NewMemoryAdapter(n), closes: &closes}
	}})
	var wg sync.WaitGroup
	got := make([]*socketio.Namespace, 2)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = io.Of("/x")
		}()
	}
	wg.Wait()
	if got[0] != got[1] {
		t.Fatal("two namespaces for one name")
	}
	if b, c := built.Load(), closes.Load(); b-c != 1 {
		t.Fatalf("%d adapters built, %d closed: want exactly one kept", b, c)
	}
	if got[0].Adapter().(*closeCounting).own.Load() != 0 {
		t.Fatal("the namespace kept a closed adapter")
	}
}

// Shutdown closes every namespace's adapter once, dynamic children
// included, and one created after it too.
func TestShutdownClosesEachAdapterOnce(t *testing.T) {
	var closes atomic.Int32
	var adapters []*closeCounting
	var mu sync.Mutex
	io, url := newServer(t, &socketio.Options{Adapter: func(n *socketio.Namespace) socketio.Adapter {
		a := &closeCounting{MemoryAdapter: socketio.NewMemoryAdapter(n), closes: &closes}
		mu.Lock()
		adapters = append(adapters, a)
		mu.Unlock()
		return a
	}})
	io.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
	io.Of("/static")
	c := dial(t, url)
	c.Connect("/dyn-1", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := io.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	io.Of("/late")
	mu.Lock()
	defer mu.Unlock()
	if len(adapters) != 4 {
		t.Fatalf("%d adapters, want 4", len(adapters))
	}
	for _, a := range adapters {
		if n := a.own.Load(); n != 1 {
			t.Errorf("adapter of %s closed %d times", a.Namespace().Name(), n)
		}
	}
}
