package engineio

import "testing"

// What a polling GET is told once the session ends: the waiting one at
// once, or else the next one when the session ended cleanly on polling.
func TestPollTransportEnded(t *testing.T) {
	for _, tt := range []struct {
		name            string
		waiting, active bool
		getting         bool
		end             ending
		want            pollAnswer
		linger          bool
	}{
		{"waiting GET, client closed", true, true, true, endByClient, answerNoop, false},
		{"waiting GET, server closed", true, true, true, endByServer, answerClose, false},
		{"waiting GET, aborted", true, true, true, endAbort, answerClose, false},
		{"no GET, client closed", false, true, false, endByClient, answerNoop, true},
		{"no GET, server closed", false, true, false, endByServer, answerClose, true},
		{"no GET, aborted", false, true, false, endAbort, answerQueue, false},
		{"no GET, upgraded", false, false, false, endByServer, answerQueue, false},
		{"GET being answered", false, true, true, endByServer, answerQueue, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p pollTransport
			var wait chan struct{}
			if tt.waiting {
				wait = make(chan struct{})
				p.wait = wait
			}
			p.getting = tt.getting
			p.endedLocked(tt.end, tt.active)
			if p.end != tt.want || p.linger != tt.linger {
				t.Fatalf("end %v, linger %v; want %v, %v", p.end, p.linger, tt.want, tt.linger)
			}
			if wait != nil {
				select {
				case <-wait:
				default:
					t.Fatal("waiting GET not woken")
				}
				if p.wait != nil {
					t.Fatal("wait channel kept")
				}
			}
		})
	}
}
