package engineio

import "testing"

// The upgrade's one state: begin, answer, end, each from where it may be.
func TestUpgradeStates(t *testing.T) {
	var u upgrade
	w := &wsConn{}
	u.beginLocked(w)
	if u.state() != upgradeProbing || u.ws != w || u.done != nil {
		t.Fatalf("after begin: %+v", u)
	}
	u.answeredLocked()
	done := u.done
	if u.state() != upgradeWaiting || done == nil {
		t.Fatalf("after answer: %+v", u)
	}
	if got := u.endLocked(); got != w || u.state() != upgradeNone || u.done != nil {
		t.Fatalf("end returned %p, left %+v", got, u)
	}
	select {
	case <-done:
	default:
		t.Fatal("done not closed when the upgrade ended")
	}
	if got := u.endLocked(); got != nil {
		t.Fatal("ending no upgrade returned a probe")
	}
}
