// Package support is what Herald's tests share, kept out of the library:
// a raw Engine.IO/Socket.IO client over WebSocket (Dial, Conn), so tests
// speak the wire protocol directly and check exactly what an official
// client would see; Serve, which runs a server for a test; and the Redis
// the tests run against (RedisURL, RedisClient, UniqueKey), or a private
// redis-server a test may hang, kill or empty (StartRedis); a PostgreSQL
// schema of its own per test (PostgresURL).
package support
