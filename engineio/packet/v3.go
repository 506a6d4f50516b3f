package packet

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// The payloads of Engine.IO v3 (Socket.IO v2 clients) differ from v4's:
//
//   - a text payload is each packet as "<length>:<packet>", where length
//     counts the packet's UTF-16 code units (JavaScript's String length),
//     not its bytes; a binary message is "b4" and base64;
//   - a binary payload, for a client that takes binary (no b64=1), is each
//     packet as one byte 0 (text) or 1 (binary), the decimal digits of its
//     length as bytes 0-9, one byte 255, then the packet: a text packet's
//     UTF-8 bytes (the type digit first), or a binary one's type as a byte
//     (4) and its bytes. Lengths count bytes there.
//
// The packets themselves are the same, but for a binary WebSocket frame,
// which v3 starts with the type byte.

// maxLengthDigits bounds the digits of a length in a v3 payload: a length
// of more digits is larger than any payload a server accepts.
const maxLengthDigits = 10

// UTF16Len returns the length of b, UTF-8 text, in UTF-16 code units, and
// false if b is not valid UTF-8.
func UTF16Len(b []byte) (int, bool) {
	n := 0
	for i := 0; i < len(b); {
		size, units := utf16Step(b[i:])
		if size == 0 {
			return 0, false
		}
		n += units
		i += size
	}
	return n, true
}

// utf16Step reads the character at the start of b (not empty): its size
// in bytes and in UTF-16 code units, a size of 0 if it is not UTF-8.
func utf16Step(b []byte) (size, units int) {
	if b[0] < utf8.RuneSelf {
		return 1, 1
	}
	r, size := utf8.DecodeRune(b)
	switch {
	case r == utf8.RuneError && size <= 1:
		return 0, 0
	case r >= 0x10000:
		return size, 2 // a surrogate pair
	}
	return size, 1
}

// textLenV3 returns the length in UTF-16 code units of p's text form.
func (p *Packet) textLenV3() int {
	if p.Binary {
		return 2 + base64.StdEncoding.EncodedLen(len(p.Data))
	}
	n, ok := UTF16Len(p.Data)
	if !ok {
		// Not UTF-8: what a JavaScript peer would read of it is
		// undefined; count bytes, so the framing at least stays whole.
		n = len(p.Data)
	}
	return 1 + n
}

// appendTextV3 appends p's text form in a v3 text payload: a binary
// message is "b4" and base64.
func (p *Packet) appendTextV3(dst []byte) []byte {
	if p.Binary {
		dst = append(dst, 'b', '0'+byte(p.Type))
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	dst = append(dst, '0'+byte(p.Type))
	return append(dst, p.Data...)
}

// EncodePayloadV3 appends packets as an Engine.IO v3 text payload
// ("<length>:<packet>" each; no packets is "0:").
func EncodePayloadV3(dst []byte, packets []*Packet) []byte {
	if len(packets) == 0 {
		return append(dst, '0', ':')
	}
	for _, p := range packets {
		dst = p.AppendRecordV3(dst)
	}
	return dst
}

// AppendRecordV3 appends p as one record of a v3 text payload.
func (p *Packet) AppendRecordV3(dst []byte) []byte {
	dst = strconv.AppendInt(dst, int64(p.textLenV3()), 10)
	dst = append(dst, ':')
	return p.appendTextV3(dst)
}

// HasBinary reports whether one of packets is a binary message: a v3
// client that takes binary then gets a binary payload.
func HasBinary(packets []*Packet) bool {
	for _, p := range packets {
		if p.Binary {
			return true
		}
	}
	return false
}

// EncodeBinaryPayloadV3 appends packets as an Engine.IO v3 binary
// payload.
func EncodeBinaryPayloadV3(dst []byte, packets []*Packet) []byte {
	for _, p := range packets {
		dst = p.AppendBinaryRecordV3(dst)
	}
	return dst
}

// AppendBinaryRecordV3 appends p as one record of a v3 binary payload.
func (p *Packet) AppendBinaryRecordV3(dst []byte) []byte {
	if p.Binary {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	var digits [20]byte
	for _, d := range strconv.AppendInt(digits[:0], int64(1+len(p.Data)), 10) {
		dst = append(dst, d-'0')
	}
	dst = append(dst, 0xff)
	if p.Binary {
		dst = append(dst, byte(p.Type))
	} else {
		dst = append(dst, '0'+byte(p.Type))
	}
	return append(dst, p.Data...)
}

// DecodePayloadV3 splits an Engine.IO v3 text payload into packets and
// calls fn for each, in order; it stops at the first error, from the
// payload or from fn. Empty packets ("0:") are skipped, as the reference
// does; a length that is not a number, one past the end of the payload,
// text that is not UTF-8 or a packet that does not decode are ErrInvalid.
// The packets' Data alias payload, except for binary messages.
func DecodePayloadV3(payload []byte, fn func(*Packet) error) error {
	if len(payload) == 0 {
		return ErrInvalid
	}
	for len(payload) > 0 {
		n, rest, err := lengthV3(payload)
		if err != nil {
			return err
		}
		// n code units of UTF-16: find where they end in the UTF-8 bytes.
		i, units := 0, 0
		for units < n && i < len(rest) {
			size, u := utf16Step(rest[i:])
			if size == 0 {
				return ErrInvalid
			}
			i += size
			units += u
		}
		if units != n {
			return ErrInvalid // past the end, or in the middle of a surrogate pair
		}
		if n > 0 {
			p, err := decodeV3(rest[:i])
			if err != nil {
				return err
			}
			if err := fn(p); err != nil {
				return err
			}
		}
		payload = rest[i:]
	}
	return nil
}

// lengthV3 reads "<digits>:" at the start of a text payload.
func lengthV3(b []byte) (n int, rest []byte, err error) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if i == maxLengthDigits {
			return 0, nil, ErrInvalid
		}
		n = n*10 + int(b[i]-'0')
		i++
	}
	if i == 0 || i == len(b) || b[i] != ':' {
		return 0, nil, ErrInvalid
	}
	return n, b[i+1:], nil
}

// decodeV3 decodes one packet of a v3 text payload: "b4" and base64 is
// a binary message.
func decodeV3(data []byte) (*Packet, error) {
	if len(data) >= 2 && data[0] == 'b' {
		if data[1] != '0'+byte(Message) {
			return nil, ErrInvalid
		}
		out := make([]byte, base64.StdEncoding.DecodedLen(len(data)-2))
		n, err := base64.StdEncoding.Decode(out, data[2:])
		if err != nil {
			return nil, ErrInvalid
		}
		return &Packet{Type: Message, Data: out[:n], Binary: true}, nil
	}
	if data[0] == 'b' {
		return nil, ErrInvalid
	}
	return Decode(data)
}

// DecodeBinaryPayloadV3 splits an Engine.IO v3 binary payload into
// packets and calls fn for each, in order; it stops at the first error.
// A marker other than 0 or 1, a digit over 9, a length of no digits, of
// too many or past the end, an empty packet, a text packet that is not
// UTF-8 and a binary packet that is not a message are ErrInvalid. The
// packets' Data alias payload.
func DecodeBinaryPayloadV3(payload []byte, fn func(*Packet) error) error {
	if len(payload) == 0 {
		return ErrInvalid
	}
	for len(payload) > 0 {
		text := payload[0] == 0
		if payload[0] > 1 {
			return ErrInvalid
		}
		i, n := 1, 0
		for ; i < len(payload) && payload[i] != 0xff; i++ {
			if payload[i] > 9 || i > maxLengthDigits {
				return ErrInvalid
			}
			n = n*10 + int(payload[i])
		}
		if i == 1 || i == len(payload) || n == 0 || n > len(payload)-i-1 {
			return ErrInvalid
		}
		body := payload[i+1 : i+1+n]
		payload = payload[i+1+n:]
		var p *Packet
		if text {
			if !utf8.Valid(body) {
				return ErrInvalid
			}
			var err error
			if p, err = Decode(body); err != nil || body[0] == 'b' {
				return ErrInvalid
			}
		} else {
			if body[0] != byte(Message) {
				return ErrInvalid
			}
			p = &Packet{Type: Message, Data: body[1:], Binary: true}
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}
