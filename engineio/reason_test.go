package engineio_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/heraldio/herald/engineio"
)

func TestCloseReason(t *testing.T) {
	cause := errors.New("boom")
	for _, tt := range []struct {
		name string
		err  error
		want engineio.Reason
		msg  string
	}{
		{"nil", nil, "", ""},
		{"other error", cause, "", ""},
		{"bare", &engineio.CloseError{Reason: engineio.ReasonPingTimeout}, engineio.ReasonPingTimeout, "engineio: ping timeout"},
		{"with cause", &engineio.CloseError{Reason: engineio.ReasonTransportError, Err: cause}, engineio.ReasonTransportError, "engineio: transport error: boom"},
		{"wrapped", fmt.Errorf("send: %w", &engineio.CloseError{Reason: engineio.ReasonForcedClose}), engineio.ReasonForcedClose, "send: engineio: forced close"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := engineio.CloseReason(tt.err); got != tt.want {
				t.Errorf("CloseReason = %q, want %q", got, tt.want)
			}
			if tt.msg != "" && tt.err.Error() != tt.msg {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.msg)
			}
		})
	}
	if err := (&engineio.CloseError{Reason: engineio.ReasonTransportError, Err: engineio.ErrSlowClient}); !errors.Is(err, engineio.ErrSlowClient) {
		t.Error("CloseError does not unwrap to its cause")
	}
}
