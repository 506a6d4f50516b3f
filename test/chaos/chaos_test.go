package chaos

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The chaos suite: two nodes on the suite's Redis (each test its own) and
// PostgreSQL (each test its own database), with the default adapter, and
// users on both nodes chatting while a fault happens.
const (
	usersPerNode = 3
	// sendInterval keeps each user under the cluster-wide budget of
	// send-message (30 per 10 s per user), so rate limiting does not
	// blur what the faults do.
	sendInterval = 350 * time.Millisecond
	faultLength  = 5 * time.Second
	// Bounds after a fault ends.
	crossNodeBound = 20 * time.Second
	presenceBound  = 30 * time.Second // the cluster presence TTL is 15 s
)

type cluster struct {
	redis   *redisServer
	pg      *postgres
	nodes   [2]*node
	proxies [2]*proxy
	users   [2][]*chatUser
	load    *load
}

// newCluster starts Redis, two nodes, a proxy in front of each (failing
// over to the other node), usersPerNode users per node, and their load.
func newCluster(t *testing.T, pad string) *cluster {
	t.Helper()
	requireChaos(t)
	c := &cluster{redis: startRedis(t), pg: suitePostgres(t)}
	settings := map[string]string{
		"HERALD_REDIS_URL":    c.redis.url(),
		"HERALD_DATABASE_URL": c.pg.database(t),
	}
	c.nodes[0] = startNode(t, "nodeA", settings)
	c.nodes[1] = startNode(t, "nodeB", settings)
	c.proxies[0] = startProxy(t, c.nodes[0], c.nodes[1])
	c.proxies[1] = startProxy(t, c.nodes[1], c.nodes[0])
	var all []*chatUser
	for i, p := range c.proxies {
		for range usersPerNode {
			u := newChatUser(t, p.url(), fmt.Sprintf("user%c", 'A'+i))
			c.users[i] = append(c.users[i], u)
			all = append(all, u)
		}
	}
	c.load = startLoad(t, all, sendInterval, pad)
	return c
}

func (c *cluster) allUsers() []*chatUser {
	return append(append([]*chatUser(nil), c.users[0]...), c.users[1]...)
}

// checkDuring checks what must hold while the fault lasted: both nodes
// alive and each one acking, with messages stored, within the bound.
func (c *cluster) checkDuring(t *testing.T, from, to time.Time, stored bool) {
	t.Helper()
	for i, n := range c.nodes {
		n.checkAlive(t)
		checkAcks(t, "during the fault on "+n.name, c.load.between(from, to, c.users[i]), stored)
	}
}

// checkRecovered checks what must hold once the fault is over:
// cross-node delivery both ways, presence on both nodes, and (load
// stopped) every acked message in history.
func (c *cluster) checkRecovered(t *testing.T) {
	t.Helper()
	a, b := c.nodes[0], c.nodes[1]
	checkCrossNode(t, a, b, crossNodeBound)
	checkCrossNode(t, b, a, crossNodeBound)
	checkPresence(t, c.nodes[:], c.allUsers(), presenceBound)
	c.load.close()
	checkNoLoss(t, a, c.load.all())
	for _, n := range c.nodes {
		n.checkAlive(t)
	}
}

// fault runs the load for a baseline, then fault, and returns the window
// it lasted.
func (c *cluster) fault(begin func(), length time.Duration, end func()) (from, to time.Time) {
	time.Sleep(2 * time.Second) // baseline
	from = time.Now()
	begin()
	time.Sleep(length)
	to = time.Now()
	end()
	return from, to
}

func TestChaosRedisKilled(t *testing.T) {
	c := newCluster(t, "")
	from, to := c.fault(func() { c.redis.proc.kill() }, faultLength, func() { c.redis.start() })
	c.checkDuring(t, from, to, true)
	c.checkRecovered(t)
}

func TestChaosRedisHung(t *testing.T) {
	c := newCluster(t, "")
	from, to := c.fault(func() { c.redis.proc.signal(syscall.SIGSTOP) }, faultLength,
		func() { c.redis.proc.signal(syscall.SIGCONT) })
	c.checkDuring(t, from, to, true)
	c.checkRecovered(t)
}

// Redis loses everything (the stream, the presence hashes, the limiter's
// windows) in a blip: the nodes must rebuild what they keep there.
func TestChaosRedisRestartedEmpty(t *testing.T) {
	c := newCluster(t, "")
	from, to := c.fault(func() {
		c.redis.do("FLUSHALL")
		c.redis.restart(0)
	}, time.Second, func() {})
	c.checkDuring(t, from, to.Add(faultLength), true)
	c.checkRecovered(t)
}

// Node A dies with SIGKILL: its users reconnect to node B (through the
// proxy, as through a load balancer), node B goes on serving, everyone
// sees them online again; then node A comes back.
func TestChaosNodeKilled(t *testing.T) {
	c := newCluster(t, "")
	a, b := c.nodes[0], c.nodes[1]
	time.Sleep(2 * time.Second)
	from := time.Now()
	a.kill()
	time.Sleep(8 * time.Second)
	to := time.Now()
	b.checkAlive(t)
	checkAcks(t, "node B while node A is dead", c.load.between(from, to, c.users[1]), true)
	// Node A's users are back, on node B.
	for _, u := range c.users[0] {
		ok := poll(15*time.Second, func() bool {
			for _, s := range c.load.between(from, time.Now(), []*chatUser{u}) {
				if s.id != "" {
					return true
				}
			}
			return false
		})
		if !ok {
			t.Errorf("%s (node A) never sent a stored message again after A died", u.id)
		}
	}
	checkPresence(t, []*node{b}, c.allUsers(), presenceBound)
	a.restart()
	c.checkRecovered(t)
}

// The store hangs (PostgreSQL stopped with SIGSTOP), then is shut down
// and restarted: sends must get an answer promptly ({error} is fine),
// nothing acked may be lost, and service resumes when the store is back.
func TestChaosStoreUnavailable(t *testing.T) {
	c := newCluster(t, "")
	pg := c.pg
	t.Cleanup(func() { pg.signalAll(syscall.SIGCONT) })
	from, to := c.fault(func() { pg.signalAll(syscall.SIGSTOP) }, faultLength,
		func() { pg.signalAll(syscall.SIGCONT) })
	c.checkDuring(t, from, to, false)
	c.checkResumed(t, to, "the store hung")

	from = time.Now()
	pg.restart(t, faultLength)
	to = time.Now()
	c.checkDuring(t, from, to, false)
	c.checkResumed(t, to, "the store restarted")
	c.checkRecovered(t)
}

// checkResumed fails t unless users on both nodes get messages stored
// again within 15 s of since.
func (c *cluster) checkResumed(t *testing.T, since time.Time, what string) {
	t.Helper()
	for i, n := range c.nodes {
		ok := poll(15*time.Second, func() bool {
			for _, s := range c.load.between(since, time.Now(), c.users[i]) {
				if s.id != "" {
					return true
				}
			}
			return false
		})
		if !ok {
			t.Errorf("%s: no message stored on %s within 15 s after %s", n.name, n.name, what)
		}
	}
}

// A client joins "general" on node A and then stops reading (its receive
// buffer is tiny) while it keeps asking for history: the server must drop
// it, and the others must keep getting messages at normal latency.
func TestChaosSlowReader(t *testing.T) {
	c := newCluster(t, strings.Repeat("x", 2000))
	a := c.nodes[0]
	time.Sleep(2 * time.Second)
	before := connections(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slow, err := dialWS(ctx, a.url(), wsOptions{rcvBuf: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.close()
	if err := slow.connectNsp("/chat", `{"token":"`+token(t, "slow-reader", "slow")+`"}`); err != nil {
		t.Fatal(err)
	}
	if err := slow.sendText(`42/chat,1["join-room","general"]`); err != nil {
		t.Fatal(err)
	}
	if err := slow.expect("43/chat,1"); err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	// From now on it never reads again.
	const dropBound = 60 * time.Second
	dropped := false
	for i := 2; time.Since(from) < dropBound; i++ {
		if connections(t, a) <= before {
			dropped = true
			break
		}
		_ = slow.writeRaw(wsTextHeader(fmt.Sprintf(`42/chat,%d["history",{"roomId":"general","limit":100}]`, i)))
		time.Sleep(100 * time.Millisecond)
	}
	to := time.Now()
	if !dropped {
		t.Errorf("the client that stopped reading was not dropped within %v", dropBound)
	} else {
		t.Logf("the client that stopped reading was dropped after %v", to.Sub(from).Round(time.Second))
	}
	for i, n := range c.nodes {
		n.checkAlive(t)
		checkAcks(t, "acks on "+n.name+" while a client does not read", c.load.between(from, to, c.users[i]), true)
		for _, u := range c.users[i] {
			ds := u.deliveriesBetween(from, to)
			if len(ds) == 0 {
				t.Errorf("%s on %s got no message while a client did not read", u.id, n.name)
			} else if p := p99(ds); p > ackBound {
				t.Errorf("%s on %s: delivery p99 %v > %v while a client did not read (%d messages)", u.id, n.name, p.Round(time.Millisecond), ackBound, len(ds))
			}
		}
	}
}

// connections reads herald_connections of n.
func connections(t testing.TB, n *node) float64 {
	t.Helper()
	m, err := n.metrics()
	if err != nil {
		t.Fatalf("%s metrics: %v", n.name, err)
	}
	return m["herald_connections"]
}
