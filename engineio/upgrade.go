package engineio

import (
	"net/http"
	"time"

	"github.com/heraldio/herald/engineio/packet"
)

// upgradeState is where the upgrade of a polling session to WebSocket is.
type upgradeState uint8

const (
	upgradeNone    upgradeState = iota // no probe
	upgradeProbing                     // a probe WebSocket is open; its "2probe" is not answered yet
	upgradeWaiting                     // the probe is answered: the upgrade packet is due
)

// upgrade is a Conn's upgrade, changed under the Conn's mu. Its value is
// its state (see state): the probe, and once the probe is answered the
// channel that closes when the upgrade ends. The zero value is no upgrade.
type upgrade struct {
	ws   *wsConn       // the probe, unless upgradeNone
	done chan struct{} // set in upgradeWaiting; closed when it ends, either way
}

// state returns where the upgrade is.
func (u *upgrade) state() upgradeState {
	switch {
	case u.ws == nil:
		return upgradeNone
	case u.done == nil:
		return upgradeProbing
	}
	return upgradeWaiting
}

// beginLocked records w as the probe.
func (u *upgrade) beginLocked(w *wsConn) { *u = upgrade{ws: w} }

// answeredLocked records that the probe was answered: the upgrade packet
// is due.
func (u *upgrade) answeredLocked() { u.done = make(chan struct{}) }

// endLocked ends the upgrade, done or failed, and returns the probe.
func (u *upgrade) endLocked() *wsConn {
	w := u.ws
	if u.done != nil {
		close(u.done)
	}
	*u = upgrade{}
	return w
}

// serveProbe accepts the WebSocket of a polling session's upgrade.
func (c *Conn) serveProbe(rw http.ResponseWriter, r *http.Request) {
	o := &c.srv.opts
	c.mu.Lock()
	ok := c.state == stateOpen && c.transport == TransportPolling && c.up.state() == upgradeNone &&
		!o.DisableUpgrades && o.allows(TransportWebSocket)
	c.mu.Unlock()
	if !ok {
		// As the reference does: accept the WebSocket, then close it.
		if w, err := c.srv.upgrade(rw, r, c); err == nil {
			w.close()
		}
		return
	}
	w, err := c.srv.upgrade(rw, r, c)
	if err != nil {
		return
	}
	c.mu.Lock()
	if c.state != stateOpen || c.up.state() != upgradeNone || c.transport != TransportPolling {
		c.mu.Unlock()
		w.close()
		return
	}
	c.up.beginLocked(w)
	c.mu.Unlock()
	time.AfterFunc(o.UpgradeTimeout, func() {
		c.mu.Lock()
		stale := c.up.ws == w
		if stale {
			c.up.endLocked()
		}
		c.mu.Unlock()
		if stale && c.hold() {
			w.close()
			c.release()
		}
	})
	w.startReading()
}

func (c *Conn) onProbePacket(w *wsConn, t packet.Type, data []byte) bool {
	switch {
	case t == packet.Ping && string(data) == "probe":
		// Upgrading before the answer goes out: the client may send the
		// upgrade packet, and then polling requests, as soon as it reads it.
		c.mu.Lock()
		if c.up.ws == w && c.up.state() == upgradeProbing {
			c.up.answeredLocked()
			c.poll.endWaitLocked(answerNoop)
		}
		c.mu.Unlock()
		_ = w.conn.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
		if _, err := w.conn.Write(control(packet.Pong, "probe").wsFrame()); err != nil {
			c.transportClosed(w, ReasonTransportError, err)
			return false
		}
		return true
	case t == packet.Upgrade:
		c.mu.Lock()
		// A session closing meanwhile still upgrades, as the reference's
		// does: what it queued before closing (a DISCONNECT, say) goes
		// out on the WebSocket, which then closes.
		if c.up.ws != w || c.up.state() != upgradeWaiting || c.state == stateClosed {
			c.mu.Unlock()
			c.transportClosed(w, ReasonTransportError, errProtocol)
			return false
		}
		c.upgradedLocked(c.up.endLocked())
		c.mu.Unlock()
		return true
	case t == packet.Noop:
		return true
	}
	c.transportClosed(w, ReasonTransportError, errProtocol)
	return false
}

// upgradeGrace is how long a polling request that comes during an upgrade
// waits for the upgrade packet.
const upgradeGrace = 50 * time.Millisecond
