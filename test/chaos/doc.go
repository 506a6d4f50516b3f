// Package chaos holds Herald's fault and abuse suites. They run the built
// herald binary as child processes, with their own Redis and PostgreSQL,
// and check what the service promises when things go wrong: a Redis
// killed, hung or emptied, a node killed, the store unavailable, a client
// that stops reading (chaos_test.go), and hostile clients that try to
// exhaust memory, connections or rate limits (abuse_test.go).
//
// The suites are heavy, so they run only with HERALD_CHAOS=1:
//
//	HERALD_CHAOS=1 go test -count=1 -timeout 10m ./test/chaos/
//
// HERALD_CHAOS_BIN names a herald binary to run instead of building one
// from the module. On a failure, the test prints the tail of each child's
// log.
package chaos
