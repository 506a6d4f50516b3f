package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Body size limits: an emit carries the clients' payload, the rest are
// small commands.
const (
	maxEmitBody  = 1 << 20
	maxSmallBody = 64 << 10
)

// decodeBody reads one JSON object of at most limit bytes into v,
// refusing unknown fields and anything after the object.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// One value only: trailing data is as malformed as a missing brace.
		if _, e := dec.Token(); !errors.Is(e, io.EOF) {
			err = errors.New("data after the JSON object")
			if e != nil && !isSyntax(e) {
				err = e
			}
		}
	}
	return bodyError(err)
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

// bodyError turns what encoding/json reports into a stable code.
func bodyError(err error) error {
	if err == nil {
		return nil
	}
	var (
		tooBig  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the body is larger than %d bytes", tooBig.Limit)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return errorf(http.StatusBadRequest, CodeInvalidType, "the body must be a JSON object")
		}
		return errorf(http.StatusBadRequest, CodeInvalidType, "%s: want %s, got %s", field, typeErr.Type, typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, CodeUnknownField, "%s", strings.TrimPrefix(err.Error(), "json: "))
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, CodeInvalidJSON, "the body is empty; send a JSON object")
	}
	return errorf(http.StatusBadRequest, CodeInvalidJSON, "the body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// Limits of the values a request names.
const (
	maxIDLen    = 128  // a user, room, socket or notification id
	maxEventLen = 256  // an event name
	maxList     = 1000 // ids or rooms in one request
)

// checkID refuses an empty, oversized or non-text id.
func checkID(field, id string) error {
	switch {
	case id == "":
		return badField("%s: must not be empty", field)
	case len(id) > maxIDLen:
		return badField("%s: longer than %d bytes", field, maxIDLen)
	case !utf8.ValidString(id) || strings.ContainsRune(id, 0):
		return badField("%s: not valid text", field)
	}
	return nil
}

func checkIDs(field string, ids []string) error {
	if len(ids) == 0 {
		return badField("%s: must not be empty", field)
	}
	if len(ids) > maxList {
		return badField("%s: more than %d entries", field, maxList)
	}
	for i, id := range ids {
		if err := checkID(fmt.Sprintf("%s[%d]", field, i), id); err != nil {
			return err
		}
	}
	return nil
}

// binaryKey marks binary data in JSON: {"$binary": "<base64>"} stands
// for the bytes, which clients receive as a binary attachment (an
// ArrayBuffer or Buffer), and acks carrying binary come back so.
const binaryKey = "$binary"

// fromJSON turns one JSON argument into what socketio.Emit sends: the
// raw JSON as it is when it holds no binary, else generic values with
// []byte for each {"$binary": ...}.
func fromJSON(field string, raw json.RawMessage) (any, error) {
	if !bytes.Contains(raw, []byte(`"`+binaryKey+`"`)) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, badField("%s: not valid JSON", field)
		}
		return json.RawMessage(buf.Bytes()), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers go out as they came, whatever their size
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badField("%s: not valid JSON", field)
	}
	return resolveBinary(field, v)
}

func resolveBinary(field string, v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		if s, ok := t[binaryKey].(string); ok && len(t) == 1 {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, badField("%s: %s is not valid base64", field, binaryKey)
			}
			return b, nil
		}
		for k, e := range t {
			r, err := resolveBinary(field+"."+k, e)
			if err != nil {
				return nil, err
			}
			t[k] = r
		}
	case []any:
		for i, e := range t {
			r, err := resolveBinary(fmt.Sprintf("%s[%d]", field, i), e)
			if err != nil {
				return nil, err
			}
			t[i] = r
		}
	}
	return v, nil
}

// toJSON is fromJSON's inverse for what clients answer: []byte becomes
// {"$binary": "<base64>"}.
func toJSON(v any) any {
	switch t := v.(type) {
	case []byte:
		return map[string]any{binaryKey: base64.StdEncoding.EncodeToString(t)}
	case map[string]any:
		for k, e := range t {
			t[k] = toJSON(e)
		}
	case []any:
		for i, e := range t {
			t[i] = toJSON(e)
		}
	}
	return v
}
