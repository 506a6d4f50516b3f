package service

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// readFile sets the settings a YAML config file gives: a mapping of
// setting keys to values. An unknown key, a value that is not a single
// scalar, or one its setting cannot parse is an error naming the file,
// the line and the key. Values overridden by a flag or the environment
// are parsed too, so a bad file fails wherever it is used.
func (c *Config) readFile(path string, table []setting, overridden func(setting) bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	if len(doc.Content) == 0 { // an empty file
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config: %s line %d: want a mapping of settings (key: value)", path, root.Line)
	}
	byKey := map[string]setting{}
	for _, s := range table {
		byKey[s.key] = s
	}
	var scratch Config // where overridden values are parsed
	spare := map[string]setting{}
	for _, s := range scratch.settings() {
		spare[s.key] = s
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		s, ok := byKey[k.Value]
		switch {
		case !ok:
			return fmt.Errorf("config: %s line %d: unknown key %q", path, k.Line, k.Value)
		case seen[k.Value] != 0:
			return fmt.Errorf("config: %s line %d: %s: given twice (first on line %d)", path, k.Line, k.Value, seen[k.Value])
		case v.Kind != yaml.ScalarNode:
			return fmt.Errorf("config: %s line %d: %s: want a single value, not a list or mapping", path, v.Line, k.Value)
		}
		seen[k.Value] = k.Line
		val := v.Value
		if v.Tag == "!!null" {
			val = ""
		}
		target := s.val
		if overridden(s) {
			target = spare[s.key].val
		} else {
			c.sources[s.key] = source{from: "file", file: path, line: v.Line}
		}
		if err := target.Set(val); err != nil {
			return fmt.Errorf("config: %s line %d: %s: %q: %v", path, v.Line, k.Value, val, unwrapParse(err))
		}
	}
	return nil
}

// WriteYAML writes the configuration as a config file would give it,
// every setting with a comment saying where its value came from; secrets
// are masked and passwords in URLs replaced.
func (c Config) WriteYAML(w io.Writer) error {
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range c.settings() {
		v := s.val.String()
		switch {
		case s.secret && v != "":
			v = "********"
		case s.url:
			v = redactURLs(v)
		}
		from := "default"
		switch src := c.sources[s.key]; src.from {
		case "flag":
			from = "flag -" + s.key
		case "env":
			from = s.env
		case "file":
			from = fmt.Sprintf("%s line %d", src.file, src.line)
		}
		if s.key == "jwt-secret" && c.generatedSecret && !c.prepared {
			from += "; generated in the data dir at start (dev mode)"
		}
		root.Content = append(root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: s.key},
			&yaml.Node{Kind: yaml.ScalarNode, Value: v, Style: quoteStyle(s, v), LineComment: from})
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return err
	}
	return enc.Close()
}

// quoteStyle quotes the text values YAML would read as something else.
func quoteStyle(s setting, v string) yaml.Style {
	if _, text := s.val.(value[string]); !text {
		return 0
	}
	var x any
	if v == "" || yaml.Unmarshal([]byte(v), &x) != nil {
		return yaml.DoubleQuotedStyle
	}
	if _, ok := x.(string); !ok {
		return yaml.DoubleQuotedStyle
	}
	return 0
}

var passwordParam = regexp.MustCompile(`(?i)(password=)[^\s&]*`)

var urlToken = regexp.MustCompile(`[^\s;]+`)

// redactURLs is RedactURL for each URL of a value that may list several
// (webhooks: "URL events; URL").
func redactURLs(s string) string { return urlToken.ReplaceAllStringFunc(s, RedactURL) }

// RedactURL hides the password of a database or Redis URL (user:password@
// and password= parameters) so it can be logged.
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			s = u.Redacted()
		}
	}
	if strings.Contains(strings.ToLower(s), "password=") {
		s = passwordParam.ReplaceAllString(s, "${1}xxxxx")
	}
	return s
}
