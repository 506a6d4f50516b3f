// Package roomstest checks an implementation of presence.Rooms: what one
// node answers, and that two nodes sharing one store agree on who enters
// first and who leaves last when they race.
package roomstest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/heraldio/herald/service/presence"
)

// Run checks a and b, two nodes' Rooms over one shared store (a and b may
// be the same value for a single-node implementation). Each run uses
// rooms and users of its own, so the store need not be empty.
func Run(t *testing.T, a, b presence.Rooms, prefix string) {
	t.Helper()
	ctx := context.Background()
	room, user := prefix+"room", prefix+"user"
	step := func(got bool, err error, want bool, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got != want {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
	first, err := a.Enter(ctx, room, user, "s1")
	step(first, err, true, "first socket enters")
	first, err = a.Enter(ctx, room, user, "s1")
	step(first, err, false, "the same socket again")
	first, err = b.Enter(ctx, room, user, "s2")
	step(first, err, false, "a second socket, on the other node")
	first, err = b.Enter(ctx, room, prefix+"other", "s3")
	step(first, err, true, "another user")
	first, err = b.Enter(ctx, prefix+"room2", user, "s2")
	step(first, err, true, "another room")
	last, err := a.Exit(ctx, room, user, "s9")
	step(last, err, false, "a socket never entered")
	last, err = a.Exit(ctx, room, user, "s1")
	step(last, err, false, "one of two leaves")
	last, err = b.Exit(ctx, room, user, "s2")
	step(last, err, true, "the last leaves")
	last, err = b.Exit(ctx, room, user, "s2")
	step(last, err, false, "the last leaves again")
	first, err = a.Enter(ctx, room, user, "s1")
	step(first, err, true, "back")

	// Races: each round two sockets of one user, one per node, enter
	// together and leave together; exactly one is first and one last.
	const rounds = 200
	for i := range rounds {
		u := fmt.Sprintf("%srace%d", prefix, i)
		// race runs op on both nodes at once, with a socket of each.
		race := func(op func(presence.Rooms, context.Context, string, string, string) (bool, error)) (got [2]bool) {
			var wg sync.WaitGroup
			for n, r := range []presence.Rooms{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := op(r, ctx, room, u, fmt.Sprintf("sock%d", n))
					if err != nil {
						t.Error(err)
					}
					got[n] = ok
				}()
			}
			wg.Wait()
			return got
		}
		firsts := race(presence.Rooms.Enter)
		lasts := race(presence.Rooms.Exit)
		if firsts[0] == firsts[1] || lasts[0] == lasts[1] {
			t.Fatalf("round %d: first %v, last %v: want exactly one of each", i, firsts, lasts)
		}
	}
}
