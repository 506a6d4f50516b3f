package admin

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/heraldio/herald/socketio"
)

// maxRoomLen bounds the room names an action takes.
const maxRoomLen = 1024

// reserved are the event names a client cannot be sent.
var reserved = map[string]bool{"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true}

// onConnection runs for each admin socket: a session for a login, the
// actions, the config, and the sockets of the cluster.
func (a *Admin) onConnection(s *socketio.Socket) {
	if a.loggedIn(s) {
		_ = s.EmitTransient("session", a.newSession(time.Now().Add(a.opts.SessionTTL)))
	}
	for name, act := range map[string]func(*socketio.Event) error{
		"emit":        a.actEmit,
		"join":        a.roomAction(func(op socketio.BroadcastOperator, r string) error { return op.SocketsJoin(r) }),
		"leave":       a.roomAction(func(op socketio.BroadcastOperator, r string) error { return op.SocketsLeave(r) }),
		"_disconnect": a.actDisconnect,
	} {
		s.On(name, func(e *socketio.Event) { a.act(e, act) })
	}
	_ = s.EmitTransient("config", map[string]any{"supportedFeatures": a.features})
	if a.opts.Production {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.sendAllSockets(s)
	}()
}

// sendAllSockets sends s the sockets of every namespace on every node.
func (a *Admin) sendAllSockets(s *socketio.Socket) {
	ctx := a.ctx
	out := []serializedSocket{}
	for _, n := range a.io.Namespaces() {
		infos, err := n.FetchSockets(ctx)
		if err != nil {
			a.log.Warn("admin: sockets of some nodes missing", "nsp", n.Name(), "err", err)
		}
		for _, info := range infos {
			out = append(out, serialize(info, n.Name(), info.Data))
		}
	}
	if ctx.Err() == nil {
		_ = s.EmitTransient("all_sockets", out)
	}
}

// actionError is an action's refusal, sent back in its ack.
type actionError string

func (e actionError) Error() string { return string(e) }

const (
	errReadOnly     actionError = "read-only"
	errBadArguments actionError = "invalid arguments"
	errNoNamespace  actionError = "unknown namespace"
)

// act runs an action, unless read-only, and answers its ack. The
// adapter's errors (the other nodes may have missed it) are logged: the
// local part is done.
func (a *Admin) act(e *socketio.Event, act func(*socketio.Event) error) {
	var err error = errReadOnly
	if !a.opts.ReadOnly {
		err = act(e)
	}
	var refusal actionError
	switch {
	case errors.As(err, &refusal):
		a.log.Debug("admin: action refused", "action", e.Name, "err", err)
		_ = e.Ack(map[string]any{"error": string(refusal)})
		return
	case err != nil:
		a.log.Warn("admin: action not carried out on every node", "action", e.Name, "err", err)
	}
	_ = e.Ack(map[string]any{"ok": true})
}

// target is the namespace of argument 0, and the sockets of the optional
// filter room at argument i.
func (a *Admin) target(e *socketio.Event, i int) (socketio.BroadcastOperator, error) {
	name, ok := e.Args.String(0)
	if !ok {
		return socketio.BroadcastOperator{}, errBadArguments
	}
	n := a.io.Namespace(name)
	if n == nil {
		return socketio.BroadcastOperator{}, errNoNamespace
	}
	op := n.Except() // every socket
	if e.Args.Len() > i && !isNull(e.Args.Raw(i)) {
		filter, ok := e.Args.String(i)
		if !ok || len(filter) > maxRoomLen {
			return socketio.BroadcastOperator{}, errBadArguments
		}
		if filter != "" {
			op = n.In(filter)
		}
	}
	return op, nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// room is the room name of argument 1.
func room(e *socketio.Event) (string, error) {
	r, ok := e.Args.String(1)
	if !ok || r == "" || len(r) > maxRoomLen {
		return "", errBadArguments
	}
	return r, nil
}

// roomAction is join or leave: (nsp, room, filter?).
func (a *Admin) roomAction(apply func(op socketio.BroadcastOperator, room string) error) func(*socketio.Event) error {
	return func(e *socketio.Event) error {
		r, err := room(e)
		if err != nil {
			return err
		}
		op, err := a.target(e, 2)
		if err != nil {
			return err
		}
		return apply(op, r)
	}
}

// actDisconnect: _disconnect(nsp, close, filter?).
func (a *Admin) actDisconnect(e *socketio.Event) error {
	var closeConn bool
	if e.Args.Len() > 1 && !isNull(e.Args.Raw(1)) {
		if err := e.Args.Decode(1, &closeConn); err != nil {
			return errBadArguments
		}
	}
	op, err := a.target(e, 2)
	if err != nil {
		return err
	}
	return op.DisconnectSockets(closeConn)
}

// actEmit: emit(nsp, filter, event, ...args).
func (a *Admin) actEmit(e *socketio.Event) error {
	ev, ok := e.Args.String(2)
	if !ok || ev == "" || reserved[ev] {
		return errBadArguments
	}
	op, err := a.target(e, 1)
	if err != nil {
		return err
	}
	return op.Emit(ev, copyArgs(e.Args.Slice(3)))
}

// copyArgs copies arguments that alias the read buffer, for a broadcast
// that may outlive the handler (a cluster adapter's queue).
func copyArgs(args socketio.Args) socketio.Args {
	raw := make([]json.RawMessage, args.Len())
	for i := range raw {
		raw[i] = append(json.RawMessage(nil), args.Raw(i)...)
	}
	var bin [][]byte
	for _, b := range args.Attachments() {
		bin = append(bin, append([]byte(nil), b...))
	}
	return socketio.NewArgs(raw, bin)
}
