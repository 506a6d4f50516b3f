package jsonstr

import (
	"encoding/json"
	"testing"
)

func TestAppend(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\n\r\t\b\f\x00\x1f", `"\n\r\t\b\f\u0000\u001f"`},
		{"<&> é \u2028", "\"<&> é \u2028\""}, // as JSON.stringify: no HTML escaping
		{"a\xffb", `"a\ufffdb"`},
	} {
		if got := string(Append([]byte("x"), tc.in)); got != "x"+tc.want {
			t.Errorf("Append(%q) = %s, want %s", tc.in, got[1:], tc.want)
		}
	}
	if got := string(AppendStrings(nil, nil)); got != "[]" {
		t.Errorf("AppendStrings(nil) = %s", got)
	}
	if got := string(AppendStrings(nil, []string{"a", `"`})); got != `["a","\""]` {
		t.Errorf("AppendStrings = %s", got)
	}
}

// FuzzAppend checks that what Append writes is valid JSON that reads back
// as encoding/json reads its own form of the string.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "a\"\\\n\x00", "é\u2028", "\xff\xfe", "<script>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := Append(nil, s)
		var got, want string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %s is not JSON: %v", s, b, err)
		}
		m, _ := json.Marshal(s)
		if err := json.Unmarshal(m, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%q: read back %q, want %q", s, got, want)
		}
	})
}
