// Package shrink gives back the memory of maps that held many entries and
// now hold few: a Go map keeps the space of deleted entries for good, so a
// crowd of connections that came and went would otherwise stay paid for.
package shrink

// minPeak is the size below which a map is left alone.
const minPeak = 1024

// Map returns m, or a copy of m sized for what it holds now once it holds
// under a quarter of the most it held. peak keeps that most between calls
// (its zero value is ready); call Map after each delete, under the lock
// that guards m.
func Map[K comparable, V any](m map[K]V, peak *int) map[K]V {
	n := len(m)
	if n+1 > *peak {
		*peak = n + 1 // the size before the delete
	}
	if *peak < minPeak || n > *peak/4 {
		return m
	}
	*peak = n
	// Not maps.Clone: a clone keeps the capacity of the original.
	out := make(map[K]V, n)
	for k, v := range m {
		out[k] = v
	}
	return out
}
