// Package api is the herald service's HTTP API for backends: JSON over
// HTTP under /api/v1, authenticated with the service's API key
// ("Authorization: Bearer <key>"), described by the OpenAPI 3.1 document
// it serves at /api/openapi.json.
//
// # What it offers
//
// Emit any event with any arguments to users, rooms, roles, a socket or
// everyone, across the cluster, optionally collecting the clients' acks;
// list, move (join/leave) and disconnect sockets; read presence; post
// chat messages, read history, create rooms and manage members; send,
// list and mark notifications read; revoke a user's sessions. The legacy
// POST /api/notifications stays as it was.
//
// # Errors
//
// Every failure is {"error": {"code", "message"}} with an HTTP status;
// the codes are the Code* constants and never change meaning. Bodies are
// decoded strictly: malformed JSON, unknown fields, wrong types and values
// out of bounds are 400s, a body over its limit 413.
//
// # Binary
//
// JSON has no bytes: an object {"$binary": "<base64>"} (that one key, a
// standard base64 string) anywhere in an emitted argument is sent to the
// clients as a binary attachment, and binary in their acks comes back in
// the same form.
//
// # Concurrency
//
// The handler is safe for concurrent use; it runs no goroutine of its own
// beyond a request's.
package api
