package service

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/presence"
	"github.com/heraldio/herald/socketio"
)

// Presence on namespace "/". Changes are gathered per tick (a Batcher per
// reporting path) and sent to each socket in one of two forms:
//
//   - "presence:changes" [entry…], once per tick with every net change:
//     for clients that ask for it with auth {presence: "changes"} (the
//     hooks and the load tool). They get no list on connect, and page the
//     online users with "presence:list" {after, limit} → {users,
//     nextCursor}.
//   - "presence:update" entry, one event per change, and "presence:list"
//     [entry…] on connect: the seed's form, for every other client. Its
//     list is capped at PresenceList users.
//
// The audience of a user's presence is everyone ("all", the seed's
// behaviour and the default) or the users who share a chat room with them
// ("rooms": a user's sockets on "/" join "audience:<room>" for each room
// they are a member of; a change goes to those rooms and to the user's
// own tabs).
const (
	roomChanges  = "presence:changes" // sockets that take the batched form
	roomUpdates  = "presence:updates" // sockets that take the seed's form
	audienceRoom = "audience:"        // + chat room id
	eventJoined  = "herald:presence-join"
	defaultPage  = 100
)

// presenceState is the service's presence machinery.
type presenceState struct {
	changes *presence.Batcher // this node's users: to the whole cluster
	vanish  *presence.Batcher // other nodes' users reported by this node: to its own clients
	roster  *presence.Roster
	seen    sync.WaitGroup // last-seen writes in flight
}

// setupPresence builds the tracker, the batchers and the roster.
func (s *Service) setupPresence(main *socketio.Namespace) {
	p := &s.pres
	tick := s.cfg.PresenceTick
	p.changes = presence.NewBatcher(tick, s.flushPresence(main.Except()))
	p.vanish = presence.NewBatcher(tick, s.flushPresence(main.Local()))
	flushes := func() uint64 { return p.changes.Flushes() + p.vanish.Flushes() }
	if s.redis != nil || s.presenceNodes != nil {
		// Cluster-wide: changes of this node's users go to every node;
		// users of a node that died are reported by each node to its own
		// clients.
		o := presence.ClusterOptions{
			Prefix: s.presencePrefix, Grace: s.cfg.PresenceGrace, Logger: s.log,
			ListMaxAge: max(tick, 50*time.Millisecond), WriteGap: tick,
			OnChange: p.changes.Add, OnVanish: p.vanish.Add,
			TTL: s.cfg.presenceTTL,
		}
		if s.presenceNodes != nil {
			s.presence = presence.NewClusterOn(s.presenceNodes, o)
		} else {
			s.presence = presence.NewCluster(s.redis, o)
		}
		// Other nodes' changes are heard of only through the shared
		// store: pages answer from a view at most a tick old.
		p.roster = presence.NewRoster(s.presence.List, flushes, max(tick, 50*time.Millisecond))
	} else {
		s.presence = presence.NewLocal(s.cfg.PresenceGrace, p.changes.Add)
		p.roster = presence.NewRoster(s.presence.List, flushes, 0)
	}
	main.On("presence:list", s.guard(s.onPresenceList))
	main.On("presence:status", s.guard(s.onPresenceStatus))
	main.OnServerSideEmit(eventJoined, func(args socketio.Args, _ func(...any)) {
		user, _ := args.String(0)
		room, _ := args.String(1)
		if user != "" && room != "" {
			s.presence.Join(user, room)
		}
	})
}

// roomsScope reports whether presence reaches only the users who share a
// room.
func (s *Service) roomsScope() bool { return s.cfg.PresenceScope == "rooms" }

// holdPresence keeps flushes from overtaking a snapshot being sent.
func (s *Service) holdPresence() (release func()) {
	r1, r2 := s.pres.changes.Hold(), s.pres.vanish.Hold()
	return func() { r2(); r1() }
}

// presenceConnect is the presence side of a socket connecting to "/": it
// reports whether the user came online.
func (s *Service) presenceConnect(sock *socketio.Socket, u auth.User) bool {
	var a struct {
		Presence string `json:"presence"`
	}
	_ = sock.Handshake().BindAuth(&a)
	batched := a.Presence == "changes"
	if batched {
		sock.Join(roomChanges)
	} else {
		sock.Join(roomUpdates)
	}
	var rooms []string
	if s.roomsScope() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
		member, err := s.store.MemberRooms(ctx, u.ID, s.cfg.MaxSyncRooms)
		cancel()
		if err != nil {
			s.log.Warn("presence: member rooms", "user", u.ID, "err", err)
		}
		names := make([]string, 0, len(member))
		for _, r := range member {
			rooms = append(rooms, r.ID)
			names = append(names, audienceRoom+r.ID)
		}
		sock.Join(names...)
	}
	came := s.presence.Connect(u.ID, u.Name, rooms)
	if !batched {
		// The seed's list, fresh at every connection: recovery need not
		// keep it.
		release := s.holdPresence()
		users, _ := s.presencePage(sock, "", s.cfg.PresenceList)
		_ = sock.EmitTransient("presence:list", users)
		release()
	}
	return came
}

// presencePage returns a page of the users sock may see.
func (s *Service) presencePage(sock *socketio.Socket, after string, limit int) ([]presence.Entry, string) {
	var rooms []string // nil: everyone
	if s.roomsScope() {
		rooms = []string{}
		for _, r := range sock.Rooms() {
			if id, ok := strings.CutPrefix(r, audienceRoom); ok {
				rooms = append(rooms, id)
			}
		}
	}
	// The snapshot of the last flush, with what changed since: the list of
	// a client that connects in the middle of a tick has the arrivals of
	// the tick, as the seed's list would.
	users, next := s.pres.roster.Snapshot().PageWith(s.pendingPresence(), rooms, after, limit)
	if users == nil {
		users = []presence.Entry{}
	}
	return users, next
}

// pendingPresence returns the entries waiting for the next flushes, by
// user id, this node's users' first.
func (s *Service) pendingPresence() []presence.Entry {
	local, vanished := s.pres.changes.Pending(), s.pres.vanish.Pending()
	if len(vanished) == 0 {
		return local
	}
	out := make([]presence.Entry, 0, len(local)+len(vanished))
	for len(local) > 0 || len(vanished) > 0 {
		switch {
		case len(vanished) == 0 || len(local) > 0 && local[0].UserID < vanished[0].UserID:
			out, local = append(out, local[0]), local[1:]
		case len(local) == 0 || vanished[0].UserID < local[0].UserID:
			out, vanished = append(out, vanished[0]), vanished[1:]
		default:
			out, local, vanished = append(out, local[0]), local[1:], vanished[1:]
		}
	}
	return out
}

// onPresenceList answers "presence:list" {after?, limit?} with {users,
// nextCursor} (null after the last page); without an ack it sends the
// first page as the seed's "presence:list" event.
func (s *Service) onPresenceList(e *socketio.Event) {
	var q struct {
		After string `json:"after"`
		Limit int    `json:"limit"`
	}
	_ = e.Args.Decode(0, &q)
	if q.Limit <= 0 {
		q.Limit = defaultPage
	}
	q.Limit = min(q.Limit, s.cfg.PresenceList)
	release := s.holdPresence()
	defer release()
	users, next := s.presencePage(e.Socket, q.After, q.Limit)
	s.metrics.eventsOut.WithLabelValues("presence:list").Inc()
	if !e.HasAck() {
		_ = e.Socket.EmitTransient("presence:list", users)
		return
	}
	var cursor any
	if next != "" {
		cursor = next
	}
	_ = e.Ack(map[string]any{"users": users, "nextCursor": cursor})
}

// presenceJoined makes a user who joined a chat room part of its audience:
// their tabs on every node join the room's audience, and the nodes that
// track them add it (the room's members then learn their presence).
func (s *Service) presenceJoined(sock *socketio.Socket, roomID string) {
	u, ok := auth.UserOf(sock)
	if !ok {
		return
	}
	main := s.io.Of("/")
	main.In("user:" + u.ID).SocketsJoin(audienceRoom + roomID)
	s.presence.Join(u.ID, roomID)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	_ = main.ServerSideEmit(ctx, eventJoined, u.ID, roomID)
	cancel()
}

// flushPresence sends one tick's changes through op (the whole cluster,
// or this node) in both forms, and records when the users who went
// offline were last seen.
func (s *Service) flushPresence(op socketio.BroadcastOperator) func([]presence.Change) {
	return func(cs []presence.Change) {
		s.recordLastSeen(cs)
		s.presenceHooks(cs)
		count := func(ev string, n int) { s.metrics.eventsOut.WithLabelValues(ev).Add(float64(n)) }
		if !s.roomsScope() {
			changes := make([]changeWire, len(cs))
			for i, c := range cs {
				changes[i] = wireChange(c.Entry)
			}
			_ = op.To(roomChanges).Emit("presence:changes", changes)
			updates := op.To(roomUpdates)
			for _, c := range cs {
				_ = updates.Emit("presence:update", c.Entry)
			}
			count("presence:changes", 1)
			count("presence:update", len(cs))
			return
		}
		// Each room's audience gets the changes of its members; the user's
		// own tabs get theirs.
		byRoom := map[string][]changeWire{}
		var order []string
		add := func(room string, e presence.Entry) {
			if _, ok := byRoom[room]; !ok {
				order = append(order, room)
			}
			byRoom[room] = append(byRoom[room], wireChange(e))
		}
		for _, c := range cs {
			targets := c.Joined
			var rooms []string
			if c.Status != c.Was {
				targets = c.Rooms
				add("user:"+c.UserID, c.Entry)
				rooms = append(rooms, "user:"+c.UserID)
			}
			for _, r := range targets {
				add(audienceRoom+r, c.Entry)
				rooms = append(rooms, audienceRoom+r)
			}
			if len(rooms) > 0 {
				_ = op.To(rooms...).Except(roomChanges).Emit("presence:update", c.Entry)
				count("presence:update", 1)
			}
		}
		for _, room := range order {
			_ = op.To(room).Except(roomUpdates).Emit("presence:changes", byRoom[room])
		}
		count("presence:changes", len(order))
	}
}

// changeWire is an entry of "presence:changes": lastSeen only for a user
// gone offline (for one online it is now, which the client knows), as an
// event to everyone of a storm's arrivals is mostly these bytes.
type changeWire struct {
	UserID   string     `json:"userId"`
	Name     string     `json:"name"`
	Status   string     `json:"status"`
	LastSeen *time.Time `json:"lastSeen,omitempty"`
}

func wireChange(e presence.Entry) changeWire {
	w := changeWire{UserID: e.UserID, Name: e.Name, Status: e.Status}
	if e.Status == presence.Offline {
		w.LastSeen = &e.LastSeen
	}
	return w
}

// recordLastSeen stores, off the flush, when the users who went offline
// were last seen: a storm of departures must not hold the next ticks.
func (s *Service) recordLastSeen(cs []presence.Change) {
	var gone []presence.Entry
	for _, c := range cs {
		if c.Status == presence.Offline {
			gone = append(gone, c.Entry)
		}
	}
	if len(gone) == 0 {
		return
	}
	s.pres.seen.Add(1)
	go func() {
		defer s.pres.seen.Done()
		for _, e := range gone {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
			_ = s.store.SetLastSeen(ctx, e.UserID, e.Name, e.LastSeen)
			cancel()
		}
	}()
}

// closePresence stops the tracker, sends what is pending and waits for
// the last-seen writes.
func (s *Service) closePresence() {
	s.presence.Close()
	s.pres.changes.Close()
	s.pres.vanish.Close()
	s.pres.seen.Wait()
}
