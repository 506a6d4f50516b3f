package engineio

import (
	"net/http"
	"time"

	"github.com/heraldio/herald/engineio/packet"
)

// serveProbe accepts the WebSocket of a polling session's upgrade.
func (c *Conn) serveProbe(rw http.ResponseWriter, r *http.Request) {
	o := &c.srv.opts
	c.mu.Lock()
	ok := c.state == stateOpen && c.transport == TransportPolling && c.probe == nil &&
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
	if c.state != stateOpen || c.probe != nil || c.transport != TransportPolling {
		c.mu.Unlock()
		w.close()
		return
	}
	c.probe = w
	c.mu.Unlock()
	time.AfterFunc(o.UpgradeTimeout, func() {
		c.mu.Lock()
		stale := c.probe == w
		if stale {
			c.probe = nil
			c.setUpgradingLocked(false)
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
		if c.probe == w {
			c.setUpgradingLocked(true)
			if c.pollCh != nil {
				c.pollEnd = noopPacket
				close(c.pollCh)
				c.pollCh = nil
			}
		}
		c.mu.Unlock()
		_ = w.conn.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
		if _, err := w.conn.Write(control(packet.Pong, "probe").wsFrame()); err != nil {
			c.onWSError(w, ReasonTransportError, err)
			return false
		}
		return true
	case t == packet.Upgrade:
		c.mu.Lock()
		if c.probe != w || !c.upgrading || c.state != stateOpen {
			c.mu.Unlock()
			c.onWSError(w, ReasonTransportError, errProtocol)
			return false
		}
		c.probe = nil
		c.ws = w
		c.transport = TransportWebSocket
		c.setUpgradingLocked(false)
		if c.pollCh != nil {
			c.pollEnd = noopPacket
			close(c.pollCh)
			c.pollCh = nil
		}
		if len(c.queue) > 0 {
			c.kickWS()
		}
		c.mu.Unlock()
		return true
	case t == packet.Noop:
		return true
	}
	c.onWSError(w, ReasonTransportError, errProtocol)
	return false
}

// upgradeGrace is how long a polling request that comes during an upgrade
// waits for the upgrade packet.
const upgradeGrace = 50 * time.Millisecond

// setUpgradingLocked records whether an upgrade waits for its packet.
// Called with c.mu held.
func (c *Conn) setUpgradingLocked(v bool) {
	if v == c.upgrading {
		return
	}
	c.upgrading = v
	if v {
		c.upgraded = make(chan struct{})
	} else if c.upgraded != nil {
		close(c.upgraded)
		c.upgraded = nil
	}
}
