package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// IDLen is the length in characters of every id made by NewID.
const IDLen = 26

// crockford is the Crockford base32 alphabet. Its characters are in
// ascending byte order, so ids compare as strings in the order of the
// numbers they encode.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var crockfordIndex = func() [256]byte {
	var t [256]byte
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(crockford); i++ {
		t[crockford[i]] = byte(i)
	}
	return t
}()

// errBadID reports a string that is not an id made by NewID.
var errBadID = errors.New("store: malformed id")

// id is a 128-bit identifier: the top 48 bits of hi are a Unix time in
// milliseconds, the remaining 80 bits are random.
type id struct{ hi, lo uint64 }

func (x id) ms() uint64 { return x.hi >> 16 }

func (x id) less(y id) bool { return x.hi < y.hi || (x.hi == y.hi && x.lo < y.lo) }

// inc returns x+1 in the random part, carrying into the timestamp when the
// random part overflows.
func (x id) inc() id {
	x.lo++
	if x.lo == 0 {
		x.hi++
	}
	return x
}

func (x id) String() string {
	var b [IDLen]byte
	for k := 0; k < IDLen; k++ {
		s := uint(5 * k)
		var v uint64
		switch {
		case s == 0:
			v = x.lo
		case s < 64:
			v = x.lo>>s | x.hi<<(64-s)
		default:
			v = x.hi >> (s - 64)
		}
		b[IDLen-1-k] = crockford[v&31]
	}
	return string(b[:])
}

func parseID(s string) (id, error) {
	if len(s) != IDLen || s[0] > '7' {
		return id{}, fmt.Errorf("%w: %q", errBadID, s)
	}
	var x id
	for i := 0; i < IDLen; i++ {
		v := crockfordIndex[s[i]]
		if v == 0xff {
			return id{}, fmt.Errorf("%w: %q", errBadID, s)
		}
		// shift the 128-bit value left by 5 and add v.
		x.hi = x.hi<<5 | x.lo>>59
		x.lo = x.lo<<5 | uint64(v)
	}
	return x, nil
}

// IDTime returns the creation time encoded in an id made by NewID.
func IDTime(s string) (time.Time, error) {
	x, err := parseID(s)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(x.ms())).UTC(), nil
}

// idGen makes ids that increase strictly within the process.
type idGen struct {
	mu   sync.Mutex
	last id
	now  func() time.Time
}

var defaultGen = &idGen{now: time.Now}

// NewID returns a new 26-character id: a 48-bit millisecond timestamp and 80
// random bits in Crockford base32. Ids made by one process sort as strings in
// the order they were made, so a message id doubles as a history cursor.
func NewID() string { return defaultGen.next(id{}).String() }

// next returns an id greater than both the previous id of g and floor.
func (g *idGen) next(floor id) id {
	var rnd [10]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	ms := uint64(g.now().UnixMilli()) & (1<<48 - 1)
	x := id{
		hi: ms<<16 | uint64(binary.BigEndian.Uint16(rnd[:2])),
		lo: binary.BigEndian.Uint64(rnd[2:]),
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last.less(floor) {
		g.last = floor
	}
	if !g.last.less(x) {
		// Same millisecond (or the clock went back): keep the time of the
		// last id and count up from it, as monotonic ULIDs do.
		x = g.last.inc()
	}
	g.last = x
	return x
}

// nextAfter returns a new id greater than after, which may be "" or an id
// read from the database (possibly written by another process).
func (g *idGen) nextAfter(after string) (id, error) {
	var floor id
	if after != "" {
		f, err := parseID(after)
		if err != nil {
			return id{}, err
		}
		floor = f
	}
	return g.next(floor), nil
}
