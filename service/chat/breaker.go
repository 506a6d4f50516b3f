package chat

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heraldio/herald/service/store"
)

// guardedStore fails fast while the store is unreachable. A handler runs
// on its connection's read path, so a store that hangs would make every
// later event of that connection wait its turn behind a timeout: after a
// failure the guard refuses calls at once for a short while, then lets one
// probe through with a short deadline, and closes again on its success.
type guardedStore struct {
	store.Store
	open  time.Duration // how long calls are refused after a failure
	probe time.Duration // deadline of the call that tests the store again

	mu      sync.Mutex
	until   time.Time // refusing until then; zero when healthy
	probing bool
}

// errStoreDown is what a refused call returns.
var errStoreDown = errors.New("chat: store unavailable")

func newGuardedStore(s store.Store, timeout time.Duration) *guardedStore {
	return &guardedStore{Store: s, open: time.Second, probe: min(timeout, 500*time.Millisecond)}
}

// enter decides whether a call may go to the store, and with what
// context; done must be called with the call's error.
func (g *guardedStore) enter(ctx context.Context) (context.Context, func(error), error) {
	g.mu.Lock()
	probe := false
	switch {
	case g.until.IsZero():
	case time.Now().Before(g.until) || g.probing:
		g.mu.Unlock()
		return nil, nil, errStoreDown
	default:
		g.probing, probe = true, true
	}
	g.mu.Unlock()
	cancel := context.CancelFunc(func() {})
	if probe {
		ctx, cancel = context.WithTimeout(ctx, g.probe)
	}
	return ctx, func(err error) {
		cancel()
		failed := err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExists) &&
			!errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrDuplicate)
		g.mu.Lock()
		if probe {
			g.probing = false
		}
		if failed {
			g.until = time.Now().Add(g.open)
		} else {
			g.until = time.Time{}
		}
		g.mu.Unlock()
	}, nil
}

func guard[T any](g *guardedStore, ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	var zero T
	ctx, done, err := g.enter(ctx)
	if err != nil {
		return zero, err
	}
	v, err := f(ctx)
	done(err)
	return v, err
}

func (g *guardedStore) GetRoom(ctx context.Context, id string) (store.Room, error) {
	return guard(g, ctx, func(ctx context.Context) (store.Room, error) { return g.Store.GetRoom(ctx, id) })
}

func (g *guardedStore) IsMember(ctx context.Context, roomID, userID string) (bool, error) {
	return guard(g, ctx, func(ctx context.Context) (bool, error) { return g.Store.IsMember(ctx, roomID, userID) })
}

func (g *guardedStore) AddMember(ctx context.Context, roomID, userID string) error {
	_, err := guard(g, ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, g.Store.AddMember(ctx, roomID, userID)
	})
	return err
}

func (g *guardedStore) CreateRoom(ctx context.Context, r store.Room) (store.Room, error) {
	return guard(g, ctx, func(ctx context.Context) (store.Room, error) { return g.Store.CreateRoom(ctx, r) })
}

func (g *guardedStore) CreateMessage(ctx context.Context, m store.Message) (store.Message, error) {
	return guard(g, ctx, func(ctx context.Context) (store.Message, error) { return g.Store.CreateMessage(ctx, m) })
}

func (g *guardedStore) CountRoomsCreatedBy(ctx context.Context, userID string) (int, error) {
	return guard(g, ctx, func(ctx context.Context) (int, error) { return g.Store.CountRoomsCreatedBy(ctx, userID) })
}

func (g *guardedStore) MemberRooms(ctx context.Context, userID string, limit int) ([]store.Room, error) {
	return guard(g, ctx, func(ctx context.Context) ([]store.Room, error) { return g.Store.MemberRooms(ctx, userID, limit) })
}

func (g *guardedStore) MessagesSince(ctx context.Context, roomID, afterID string, limit int) ([]store.Message, error) {
	return guard(g, ctx, func(ctx context.Context) ([]store.Message, error) {
		return g.Store.MessagesSince(ctx, roomID, afterID, limit)
	})
}

type page[T any] struct {
	items []T
	next  string
}

func (g *guardedStore) History(ctx context.Context, roomID, before string, limit int) ([]store.Message, string, error) {
	p, err := guard(g, ctx, func(ctx context.Context) (page[store.Message], error) {
		m, next, err := g.Store.History(ctx, roomID, before, limit)
		return page[store.Message]{m, next}, err
	})
	return p.items, p.next, err
}

func (g *guardedStore) ListRoomsPage(ctx context.Context, userID, after string, limit int) ([]store.RoomEntry, string, error) {
	p, err := guard(g, ctx, func(ctx context.Context) (page[store.RoomEntry], error) {
		r, next, err := g.Store.ListRoomsPage(ctx, userID, after, limit)
		return page[store.RoomEntry]{r, next}, err
	})
	return p.items, p.next, err
}
