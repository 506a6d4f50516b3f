package presence

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// flushes records what a Batcher flushed, one slice per flush.
type flushes struct {
	mu  sync.Mutex
	got [][]Change
}

func (f *flushes) flush(cs []Change) {
	f.mu.Lock()
	f.got = append(f.got, cs)
	f.mu.Unlock()
}

func (f *flushes) all() [][]Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func change(id, was, status string, joined ...string) Change {
	return Change{Entry: Entry{UserID: id, Name: id, Status: status}, Was: was, Joined: joined}
}

func TestBatcherNetChangesPerTick(t *testing.T) {
	tests := []struct {
		name string
		in   []Change
		want []Change // nil: nothing flushed
	}{
		{"one arrival", []Change{change("a", Offline, Online)}, []Change{change("a", Offline, Online)}},
		{"last state wins", []Change{change("a", Online, Away), change("a", Away, Busy)}, []Change{change("a", Online, Busy)}},
		{"back as it was sends nothing", []Change{change("a", Online, Offline), change("a", Offline, Online)}, nil},
		{"status back as it was", []Change{change("a", Online, Away), change("a", Away, Online)}, nil},
		{"a join alone tells the joined rooms", []Change{change("a", Online, Online, "r1"), change("a", Online, Online, "r2")},
			[]Change{change("a", Online, Online, "r1", "r2")}},
		{"a join with a status change is a status change", []Change{change("a", Online, Online, "r1"), change("a", Online, Away)},
			[]Change{change("a", Online, Away)}},
		{"a join survives a reload within the tick", []Change{change("a", Online, Online, "r1"), change("a", Online, Offline), change("a", Offline, Online)},
			[]Change{change("a", Online, Online, "r1")}},
		{"a join of a user gone offline is dropped", []Change{change("a", Online, Online, "r1"), change("a", Online, Offline)},
			[]Change{change("a", Online, Offline)}},
		{"ordered by user", []Change{change("b", Offline, Online), change("a", Offline, Online)},
			[]Change{change("a", Offline, Online), change("b", Offline, Online)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f flushes
			b := NewBatcher(time.Hour, f.flush) // flushed by hand
			for _, c := range tt.in {
				b.Add(c)
			}
			b.Flush()
			got := f.all()
			if tt.want == nil {
				if len(got) != 0 {
					t.Fatalf("flushed %+v, want nothing", got)
				}
				return
			}
			if len(got) != 1 || !equalChanges(got[0], tt.want) {
				t.Fatalf("flushed %+v, want one flush of %+v", got, tt.want)
			}
			if b.Flushes() != 1 {
				t.Fatalf("Flushes() = %d", b.Flushes())
			}
		})
	}
}

func equalChanges(a, b []Change) bool {
	return slices.EqualFunc(a, b, func(x, y Change) bool {
		return x.UserID == y.UserID && x.Status == y.Status && x.Was == y.Was && slices.Equal(x.Joined, y.Joined)
	})
}

func TestBatcherFlushesOncePerTick(t *testing.T) {
	var f flushes
	done := make(chan struct{}, 10)
	b := NewBatcher(20*time.Millisecond, func(cs []Change) { f.flush(cs); done <- struct{}{} })
	defer b.Close()
	for i := range 50 {
		b.Add(change(string(rune('a'+i%26))+"x", Offline, Online))
	}
	<-done
	if got := f.all(); len(got) != 1 || len(got[0]) != 26 {
		t.Fatalf("flushes %d, first of %d changes; want one of 26", len(got), len(got[0]))
	}
	b.Add(change("late", Offline, Online))
	<-done
	if got := f.all(); len(got) != 2 {
		t.Fatalf("%d flushes, want 2", len(got))
	}
}

// Hold keeps a flush from overtaking a snapshot sent under it.
func TestBatcherHoldDelaysFlush(t *testing.T) {
	var f flushes
	b := NewBatcher(time.Millisecond, f.flush)
	defer b.Close()
	release := b.Hold()
	b.Add(change("a", Offline, Online))
	time.Sleep(20 * time.Millisecond)
	if n := len(f.all()); n != 0 {
		t.Fatalf("%d flushes while held", n)
	}
	release()
	for deadline := time.Now().Add(2 * time.Second); len(f.all()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no flush after release")
		}
	}
}

func TestBatcherCloseFlushesAndDropsLater(t *testing.T) {
	var f flushes
	b := NewBatcher(time.Hour, f.flush)
	b.Add(change("a", Offline, Online))
	b.Close()
	b.Add(change("b", Offline, Online))
	b.Flush()
	if got := f.all(); len(got) != 1 || got[0][0].UserID != "a" {
		t.Fatalf("flushed %+v", got)
	}
}

func TestBatcherZeroTickFlushesAtOnce(t *testing.T) {
	var f flushes
	b := NewBatcher(0, f.flush)
	defer b.Close()
	b.Add(change("a", Offline, Online))
	if len(f.all()) != 1 {
		t.Fatal("not flushed at once")
	}
}
