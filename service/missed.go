package service

import (
	"sync"
	"time"
)

// awayTracker remembers, for the grace period, when a user's last tab on
// this node closed. A tab that opens meanwhile (a reload) gets the
// notifications created since: the presence never went offline, so the
// "came online" path would not deliver them.
type awayTracker struct {
	grace time.Duration

	mu   sync.Mutex
	tabs map[string]int       // open sockets per user on "/"
	away map[string]time.Time // when the last of them closed
}

func newAwayTracker(grace time.Duration) *awayTracker {
	return &awayTracker{grace: grace, tabs: map[string]int{}, away: map[string]time.Time{}}
}

// opened counts a new socket of userID and returns when the user's last
// tab closed, if that was within the grace period. The record is taken:
// only the first tab back gets what was missed.
func (a *awayTracker) opened(userID string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tabs[userID]++
	t, ok := a.away[userID]
	delete(a.away, userID)
	return t, ok && time.Since(t) <= a.grace+time.Second
}

// closed counts a socket of userID gone.
func (a *awayTracker) closed(userID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tabs[userID]--; a.tabs[userID] > 0 {
		return
	}
	delete(a.tabs, userID)
	now := time.Now()
	a.away[userID] = now
	if len(a.away) > 1024 && len(a.away)&1023 == 0 { // bounded by a sweep now and then
		for id, t := range a.away {
			if now.Sub(t) > a.grace+time.Second {
				delete(a.away, id)
			}
		}
	}
}
