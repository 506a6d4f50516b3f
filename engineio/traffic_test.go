package engineio_test

import (
	"testing"

	"github.com/heraldio/herald/engineio"
)

func TestTraffic(t *testing.T) {
	s, base, _ := newServer(t, nil)
	echoOnce := func() {
		t.Helper()
		u := base + "?EIO=4&transport=polling&sid=" + handshake(t, base)
		if code, body := post(t, u, "4hello\x1ebAQI="); code != 200 || body != "ok" {
			t.Fatalf("post %d %q", code, body)
		}
		if code, body := get(t, u); code != 200 || body != "4hello\x1ebAQI=" {
			t.Fatalf("poll %d %q", code, body)
		}
	}
	echoOnce()
	if tr := s.Traffic(); tr != (engineio.Traffic{}) {
		t.Fatalf("counted without CountTraffic: %+v", tr)
	}
	stop := s.CountTraffic()
	stop2 := s.CountTraffic()
	echoOnce()
	// Two messages each way, "hello" and the 2 bytes of the binary one;
	// the handshake's open packet and pings are not messages.
	want := engineio.Traffic{PacketsIn: 2, PacketsOut: 2, BytesIn: 7, BytesOut: 7}
	if tr := s.Traffic(); tr != want {
		t.Fatalf("traffic %+v, want %+v", tr, want)
	}
	stop()
	stop() // a second call changes nothing: stop2 still counts
	echoOnce()
	want = engineio.Traffic{PacketsIn: 4, PacketsOut: 4, BytesIn: 14, BytesOut: 14}
	if tr := s.Traffic(); tr != want {
		t.Fatalf("traffic %+v, want %+v", tr, want)
	}
	stop2()
	echoOnce()
	if tr := s.Traffic(); tr != want {
		t.Fatalf("counted after stop: %+v", tr)
	}
}
