package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/heraldio/herald/socketio"
)

// emitRequest is the body of POST /emit.
type emitRequest struct {
	Target
	Namespace string            `json:"namespace"`
	Event     string            `json:"event"`
	Data      json.RawMessage   `json:"data"`
	Args      []json.RawMessage `json:"args"`
	Except    []string          `json:"except"`
	Volatile  bool              `json:"volatile"`
	Ack       *struct {
		TimeoutMs int `json:"timeoutMs"`
	} `json:"ack"`
}

// maxAckTimeout bounds how long one request may wait for acks.
const maxAckTimeout = 60 * time.Second

// reservedEvents are the events a Socket.IO client keeps for itself.
var reservedEvents = map[string]bool{"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true}

func checkEvent(field, name string) error {
	switch {
	case name == "":
		return badField("%s: must not be empty", field)
	case len(name) > maxEventLen:
		return badField("%s: longer than %d bytes", field, maxEventLen)
	case !utf8.ValidString(name):
		return badField("%s: not valid text", field)
	case reservedEvents[name]:
		return badField("%s: %q is reserved by Socket.IO", field, name)
	}
	return nil
}

// eventArgs returns what to emit: data as the one argument, or args.
func eventArgs(data json.RawMessage, args []json.RawMessage, field string) ([]any, error) {
	if data != nil && args != nil {
		return nil, badField("give data (one argument) or args (a list), not both")
	}
	if data != nil {
		args = []json.RawMessage{data}
	}
	out := make([]any, len(args))
	for i, raw := range args {
		v, err := fromJSON(fmt.Sprintf("%s[%d]", field, i), raw)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (a *API) emit(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in emitRequest
	if err := decodeBody(w, r, maxEmitBody, &in); err != nil {
		return 0, nil, err
	}
	nsp, err := a.namespace(in.Namespace)
	if err != nil {
		return 0, nil, err
	}
	if err := checkEvent("event", in.Event); err != nil {
		return 0, nil, err
	}
	args, err := eventArgs(in.Data, in.Args, "args")
	if err != nil {
		return 0, nil, err
	}
	op, err := in.operator(nsp, in.Except)
	if err != nil {
		return 0, nil, err
	}
	if in.Volatile {
		op = op.Volatile()
	}
	if in.Ack == nil {
		if err := op.Emit(in.Event, args...); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"ok": true}, nil
	}
	timeout := time.Duration(in.Ack.TimeoutMs) * time.Millisecond
	if timeout <= 0 || timeout > maxAckTimeout {
		return 0, nil, badField("ack.timeoutMs: from 1 to %d", maxAckTimeout.Milliseconds())
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	answers, err := op.EmitWithAck(ctx, in.Event, args...)
	timedOut := errors.Is(err, socketio.ErrAckTimeout) || errors.Is(err, context.DeadlineExceeded)
	if err != nil && !timedOut {
		return 0, nil, err
	}
	acks := make([][]any, 0, len(answers))
	for _, ans := range answers {
		acks = append(acks, ackValues(ans))
	}
	return http.StatusOK, map[string]any{"ok": true, "acks": acks, "timedOut": timedOut}, nil
}

// ackValues returns one client's ack arguments as JSON values.
func ackValues(a socketio.Args) []any {
	out := make([]any, a.Len())
	if len(a.Attachments()) == 0 {
		for i := range out {
			out[i] = a.Raw(i)
		}
		return out
	}
	for i, v := range a.Values() {
		out[i] = toJSON(v)
	}
	return out
}
