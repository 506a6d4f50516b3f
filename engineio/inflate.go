package engineio

import (
	"compress/flate"
	"io"
	"slices"
	"sync"
)

// inflateTail ends a permessage-deflate message for the decompressor: the
// sync flush marker the sender stripped (RFC 7692, 7.2.2), then an empty
// final block so the stream ends cleanly.
var inflateTail = [...]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}

// inflaters are reused: a flate reader holds a 32 KiB window.
var inflaters = sync.Pool{New: func() any { return flate.NewReader(nil) }}

// deflated is a compressed message followed by inflateTail. It is an
// io.ByteReader, so the decompressor adds no buffer of its own.
type deflated struct {
	b   []byte
	pos int
}

func (d *deflated) Read(p []byte) (int, error) {
	if d.pos >= len(d.b)+len(inflateTail) {
		return 0, io.EOF
	}
	n := 0
	if d.pos < len(d.b) {
		n = copy(p, d.b[d.pos:])
	}
	n += copy(p[n:], inflateTail[max(d.pos+n-len(d.b), 0):])
	d.pos += n
	return n, nil
}

func (d *deflated) ReadByte() (byte, error) {
	switch {
	case d.pos < len(d.b):
		d.pos++
		return d.b[d.pos-1], nil
	case d.pos < len(d.b)+len(inflateTail):
		d.pos++
		return inflateTail[d.pos-1-len(d.b)], nil
	}
	return 0, io.EOF
}

// inflate decompresses a permessage-deflate message of at most limit
// bytes. It stops at limit+1 bytes: a small frame may inflate to gigabytes,
// and none of that is produced past the limit.
func inflate(data []byte, limit int64) ([]byte, error) {
	src := deflated{b: data}
	fr := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(fr)
	if err := fr.(flate.Resetter).Reset(&src, nil); err != nil {
		return nil, err
	}
	out := make([]byte, 0, min(limit+1, int64(4*len(data)+64)))
	for {
		if len(out) == cap(out) {
			out = slices.Grow(out, int(min(int64(len(out)), limit+1-int64(len(out)))))
		}
		n, err := fr.Read(out[len(out):int(min(int64(cap(out)), limit+1))])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			return nil, errFrameLarge
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
