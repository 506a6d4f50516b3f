package shrink

import (
	"runtime"
	"testing"
)

func TestMapShrinksAfterACrowdLeaves(t *testing.T) {
	m := map[int]int{}
	peak := 0
	for i := 0; i < 5000; i++ {
		m[i] = i
	}
	orig := m
	for i := 0; i < 3000; i++ { // still more than a quarter: kept
		delete(m, i)
		m = Map(m, &peak)
	}
	if peak != 5000 || len(m) != 2000 {
		t.Fatalf("peak %d len %d", peak, len(m))
	}
	orig[-1] = -1 // still the same map
	if _, ok := m[-1]; !ok {
		t.Fatal("replaced too early")
	}
	delete(m, -1)
	for i := 3000; i < 3800; i++ {
		delete(m, i)
		m = Map(m, &peak)
	}
	if len(m) != 1200 || peak != 1250 { // shrunk once it reached 5000/4
		t.Fatalf("after shrinking: len %d peak %d", len(m), peak)
	}
	orig[-2] = -2
	if _, ok := m[-2]; ok {
		t.Fatal("not replaced")
	}
	for i := 3800; i < 5000; i++ {
		if m[i] != i {
			t.Fatalf("lost %d", i)
		}
	}
}

func TestSmallMapsAreLeftAlone(t *testing.T) {
	m := map[string]bool{"a": true}
	peak := 0
	delete(m, "a")
	m2 := Map(m, &peak)
	m2["x"] = true
	if !m["x"] {
		t.Fatal("a small map was replaced")
	}
}

func BenchmarkMapDelete(b *testing.B) {
	m := map[int]int{}
	peak := 0
	for i := 0; i < b.N; i++ {
		m[i] = i
		delete(m, i)
		m = Map(m, &peak)
	}
}

// The copy must be sized for what the map holds, not for its peak: the
// memory of the big map comes back once it is dropped.
func TestMapReleasesMemory(t *testing.T) {
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	m := map[int][32]byte{}
	peak := 0
	for i := 0; i < 200_000; i++ {
		m[i] = [32]byte{}
	}
	full := heap() - before
	for i := 0; i < 199_990; i++ {
		delete(m, i)
		m = Map(m, &peak)
	}
	if len(m) != 10 {
		t.Fatalf("len %d", len(m))
	}
	left := heap() - before
	if left > full/20 {
		t.Fatalf("a map of 10 entries still holds %d bytes (%d at its peak)", left, full)
	}
	runtime.KeepAlive(m)
}
