package engineio

import (
	"sync/atomic"

	"github.com/heraldio/herald/engineio/packet"
)

// Traffic counts the message packets a server has received and sent, and
// their payload bytes (without the transports' framing), as the
// Socket.IO Admin UI shows them. A packet sent to many connections counts
// once per connection.
type Traffic struct {
	PacketsIn, PacketsOut uint64
	BytesIn, BytesOut     uint64
}

// trafficCounter is the server's Traffic, counted while anyone asked for
// it (CountTraffic): without, Send and the read path pay one atomic load.
type trafficCounter struct {
	_                     [64]byte // off the cache lines of the fields before it
	users                 atomic.Int32
	packetsIn, packetsOut atomic.Uint64
	bytesIn, bytesOut     atomic.Uint64
}

// CountTraffic makes the server count its traffic (Traffic) until the
// returned stop is called; it counts while any caller has not stopped.
// Counting costs two atomic additions per packet and connection.
func (s *Server) CountTraffic() (stop func()) {
	s.traffic.users.Add(1)
	var once atomic.Bool
	return func() {
		if !once.Swap(true) {
			s.traffic.users.Add(-1)
		}
	}
}

// Traffic returns what the server counted while counting was on.
func (s *Server) Traffic() Traffic {
	t := &s.traffic
	return Traffic{PacketsIn: t.packetsIn.Load(), PacketsOut: t.packetsOut.Load(),
		BytesIn: t.bytesIn.Load(), BytesOut: t.bytesOut.Load()}
}

// received counts a packet read from a client.
func (t *trafficCounter) received(typ packet.Type, data []byte) {
	if t.users.Load() == 0 || typ != packet.Message {
		return
	}
	t.packetsIn.Add(1)
	t.bytesIn.Add(uint64(len(data)))
}

// sent counts packets queued for a client.
func (t *trafficCounter) sent(pkts []*Packet) {
	if t.users.Load() == 0 {
		return
	}
	var n, size uint64
	for _, p := range pkts {
		if p.Type == packet.Message {
			n++
			size += uint64(len(p.Data))
		}
	}
	t.packetsOut.Add(n)
	t.bytesOut.Add(size)
}
