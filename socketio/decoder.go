package socketio

import "errors"

// ErrUnexpectedBinary is returned by Decoder.Feed for a binary message
// that no packet announced.
var ErrUnexpectedBinary = errors.New("socketio: unexpected binary message")

// Decoder reassembles packets from the Engine.IO messages that carry
// them: a packet's text, then as many binary messages as it announces.
// The server and the Go client read with one each. The zero value is
// ready; a Decoder is not safe for concurrent use.
type Decoder struct {
	pending   *Packet
	remaining int
	drop      bool
}

// Feed takes the next message of a connection. It returns a packet once
// it is complete, nil while a binary packet awaits its attachments. A
// packet's Data aliases its text message and its Attachments the binary
// ones. A text message while attachments are awaited fails with
// ErrBadPacket, a binary message when none is with ErrUnexpectedBinary;
// either way the awaited packet is forgotten.
func (d *Decoder) Feed(data []byte, binary bool) (*Packet, error) {
	if binary {
		p := d.pending
		if p == nil {
			return nil, ErrUnexpectedBinary
		}
		if !d.drop {
			p.Attachments = append(p.Attachments, data)
		}
		d.remaining--
		if d.remaining > 0 {
			return nil, nil
		}
		drop := d.drop
		d.Reset()
		if drop {
			return nil, nil
		}
		return p, nil
	}
	if d.pending != nil {
		d.Reset()
		return nil, ErrBadPacket
	}
	p, n, err := Decode(data)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		d.pending, d.remaining = p, n
		return nil, nil
	}
	return p, nil
}

// Awaiting returns the packet whose attachments are awaited, nil if none.
func (d *Decoder) Awaiting() *Packet { return d.pending }

// Dropping reports whether the awaited packet's attachments are dropped.
func (d *Decoder) Dropping() bool { return d.drop }

// Drop makes the awaited packet's attachments be dropped as they come and
// the packet itself once they all have: a server does so for a packet no
// socket would receive, rather than hold its attachments.
func (d *Decoder) Drop() { d.drop = d.pending != nil }

// Reset forgets the awaited packet.
func (d *Decoder) Reset() { d.pending, d.remaining, d.drop = nil, 0, false }
