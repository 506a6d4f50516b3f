package engineio

import (
	"net"
	"net/http"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/heraldio/herald/internal/rawsock"
)

func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, c *Conn) (*wsConn, error) {
	u := ws.HTTPUpgrader{Timeout: s.opts.WriteTimeout}
	var ext *wsflate.Extension
	if s.opts.PerMessageDeflate {
		ext = &wsflate.Extension{Parameters: wsflate.Parameters{
			ServerNoContextTakeover: true,
			ClientNoContextTakeover: true,
		}}
		u.Negotiate = ext.Negotiate
	}
	conn, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		return nil, err
	}
	if s.netpoller() != nil && plainSocket(conn) {
		// Out of the runtime's poller: ours reads the socket, and the
		// runtime's would only be woken for nothing and keep a descriptor
		// for good.
		if sc, err := rawsock.Take(conn); err == nil {
			conn = sc
		}
	}
	wc := newWSConn(c, conn)
	if ext != nil {
		_, wc.deflate = ext.Accepted()
	}
	if rw != nil && rw.Reader.Buffered() > 0 {
		wc.pre, _ = rw.Reader.Peek(rw.Reader.Buffered())
		wc.pre = append([]byte(nil), wc.pre...)
	}
	return wc, nil
}

// plainSocket reports whether conn is the net package's own connection:
// taking the socket closes conn, and a listener's wrapper may do more on
// Close (count connections, log) than release the descriptor.
func plainSocket(conn net.Conn) bool {
	switch conn.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}
